"""Stanford PTBTokenizer 3.4.1, as coco-caption runs it, in plain Python (no Java).

coco-caption (pycocoevalcap 1.2) tokenizes every caption with the bundled stanford-corenlp-3.4.1.jar:

    java -cp stanford-corenlp-3.4.1.jar edu.stanford.nlp.process.PTBTokenizer -preserveLines -lowerCase FILE

on all captions of one call joined by "\\n" (one line each; "\\n" inside a caption becomes " "), and then
drops the tokens in PUNCTUATIONS from each output line. This module re-implements that lexer
(PTBLexer.flex of CoreNLP 3.4.1 with its default options plus tokenizeNLs: ptb3Escaping normalizations
on, americanize off, splitAssimilations on, untokenizable characters deleted) as an ordered list of
rules with JFlex's semantics: at each position the rule with the longest match wins (trailing context
`r1/r2` counts towards the length; `r1` is the longest prefix whose remainder matches `r2`), ties go
to the earlier rule, `%caseless` applies to literal letters but not to character classes. The Java
tokenizer reads the whole file as one stream, so a caption's last token can depend on the start of
the next line ("Plan B." followed by a caption that starts "A ..." gives "b" "."; at the end of the
file "b."): `tokenize_lines` tokenizes a list of captions as one stream, exactly like one call of
pycocoevalcap's PTBTokenizer.

Character classes: [:letter:], [:digit:] and [:uppercase:] are the jar's own (measured from it over the
whole BMP, see _JAVA_CLASSES: Unicode 6.2 as the 2014 JDK had it, not Python's newer Unicode). Characters
outside the BMP (emoji) are UTF-16 surrogate pairs to the lexer, which it deletes as untokenizable
unless a token swallows them (an SGML tag, a URL); we do the same. Lower-casing is Python's str.lower
where Java uses toLowerCase(Locale.ENGLISH): equal on everything the tests try. A caption holding another
line separator (\\r, \\x0b, \\x0c, \\u2028, \\u2029; "\\n" is made a space) ends a line of the jar's
output there, so pycocoevalcap gives every later caption of the call the next caption's tokens (and
drops the last): tokenize_lines does the same, as it must to give the official numbers.
"""
from __future__ import annotations

import bisect
import functools
import itertools
import re
import sys

# coco-caption's list (upper-case brackets never match after -lowerCase: "-lrb-" etc. survive)
PUNCTUATIONS = frozenset(["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
                          ".", "?", "!", ",", ":", "-", "--", "...", ";"])


# ----------------------------------------------------------------------------- character classes
# The lexer's character classes [:letter:], [:digit:] and [:uppercase:] over the BMP, as the jar has them
# (JFlex 1.4.3 built them from the 2014 JDK's Character.isLetter / isDigit / isUpperCase: Unicode 6.2).
# Measured from stanford-corenlp-3.4.1.jar itself (one JVM call over every BMP code point: "a?a" is one
# token iff ? is a letter or digit, "1.?" iff a digit, "x etc. ?" keeps a sentence-final "." iff an upper-
# case letter), so that letters Unicode added later (Python knows them) are not letters here either.
# Hex code point ranges, "a-b" or "a".
_JAVA_CLASSES = {
    "letter": (
        "41-5a 61-7a aa b5 ba c0-d6 d8-f6 f8-2c1 2c6-2d1 2e0-2e4 2ec 2ee 370-374 376-377 37a-37d 386 388-38a 38c 38e-3a1 "
        "3a3-3f5 3f7-481 48a-527 531-556 559 561-587 5d0-5ea 5f0-5f2 620-64a 66e-66f 671-6d3 6d5 6e5-6e6 6ee-6ef 6fa-6fc "
        "6ff 710 712-72f 74d-7a5 7b1 7ca-7ea 7f4-7f5 7fa 800-815 81a 824 828 840-858 8a0 8a2-8ac 904-939 93d 950 958-961 "
        "971-977 979-97f 985-98c 98f-990 993-9a8 9aa-9b0 9b2 9b6-9b9 9bd 9ce 9dc-9dd 9df-9e1 9f0-9f1 a05-a0a a0f-a10 "
        "a13-a28 a2a-a30 a32-a33 a35-a36 a38-a39 a59-a5c a5e a72-a74 a85-a8d a8f-a91 a93-aa8 aaa-ab0 ab2-ab3 ab5-ab9 abd "
        "ad0 ae0-ae1 b05-b0c b0f-b10 b13-b28 b2a-b30 b32-b33 b35-b39 b3d b5c-b5d b5f-b61 b71 b83 b85-b8a b8e-b90 b92-b95 "
        "b99-b9a b9c b9e-b9f ba3-ba4 ba8-baa bae-bb9 bd0 c05-c0c c0e-c10 c12-c28 c2a-c33 c35-c39 c3d c58-c59 c60-c61 "
        "c85-c8c c8e-c90 c92-ca8 caa-cb3 cb5-cb9 cbd cde ce0-ce1 cf1-cf2 d05-d0c d0e-d10 d12-d3a d3d d4e d60-d61 d7a-d7f "
        "d85-d96 d9a-db1 db3-dbb dbd dc0-dc6 e01-e30 e32-e33 e40-e46 e81-e82 e84 e87-e88 e8a e8d e94-e97 e99-e9f ea1-ea3 "
        "ea5 ea7 eaa-eab ead-eb0 eb2-eb3 ebd ec0-ec4 ec6 edc-edf f00 f40-f47 f49-f6c f88-f8c 1000-102a 103f 1050-1055 "
        "105a-105d 1061 1065-1066 106e-1070 1075-1081 108e 10a0-10c5 10c7 10cd 10d0-10fa 10fc-1248 124a-124d 1250-1256 "
        "1258 125a-125d 1260-1288 128a-128d 1290-12b0 12b2-12b5 12b8-12be 12c0 12c2-12c5 12c8-12d6 12d8-1310 1312-1315 "
        "1318-135a 1380-138f 13a0-13f4 1401-166c 166f-167f 1681-169a 16a0-16ea 1700-170c 170e-1711 1720-1731 1740-1751 "
        "1760-176c 176e-1770 1780-17b3 17d7 17dc 1820-1877 1880-18a8 18aa 18b0-18f5 1900-191c 1950-196d 1970-1974 "
        "1980-19ab 19c1-19c7 1a00-1a16 1a20-1a54 1aa7 1b05-1b33 1b45-1b4b 1b83-1ba0 1bae-1baf 1bba-1be5 1c00-1c23 "
        "1c4d-1c4f 1c5a-1c7d 1ce9-1cec 1cee-1cf1 1cf5-1cf6 1d00-1dbf 1e00-1f15 1f18-1f1d 1f20-1f45 1f48-1f4d 1f50-1f57 "
        "1f59 1f5b 1f5d 1f5f-1f7d 1f80-1fb4 1fb6-1fbc 1fbe 1fc2-1fc4 1fc6-1fcc 1fd0-1fd3 1fd6-1fdb 1fe0-1fec 1ff2-1ff4 "
        "1ff6-1ffc 2071 207f 2090-209c 2102 2107 210a-2113 2115 2119-211d 2124 2126 2128 212a-212d 212f-2139 213c-213f "
        "2145-2149 214e 2183-2184 2c00-2c2e 2c30-2c5e 2c60-2ce4 2ceb-2cee 2cf2-2cf3 2d00-2d25 2d27 2d2d 2d30-2d67 2d6f "
        "2d80-2d96 2da0-2da6 2da8-2dae 2db0-2db6 2db8-2dbe 2dc0-2dc6 2dc8-2dce 2dd0-2dd6 2dd8-2dde 2e2f 3005-3006 "
        "3031-3035 303b-303c 3041-3096 309d-309f 30a1-30fa 30fc-30ff 3105-312d 3131-318e 31a0-31ba 31f0-31ff 3400-4db5 "
        "4e00-9fcc a000-a48c a4d0-a4fd a500-a60c a610-a61f a62a-a62b a640-a66e a67f-a697 a6a0-a6e5 a717-a71f a722-a788 "
        "a78b-a78e a790-a793 a7a0-a7aa a7f8-a801 a803-a805 a807-a80a a80c-a822 a840-a873 a882-a8b3 a8f2-a8f7 a8fb "
        "a90a-a925 a930-a946 a960-a97c a984-a9b2 a9cf aa00-aa28 aa40-aa42 aa44-aa4b aa60-aa76 aa7a aa80-aaaf aab1 "
        "aab5-aab6 aab9-aabd aac0 aac2 aadb-aadd aae0-aaea aaf2-aaf4 ab01-ab06 ab09-ab0e ab11-ab16 ab20-ab26 ab28-ab2e "
        "abc0-abe2 ac00-d7a3 d7b0-d7c6 d7cb-d7fb f900-fa6d fa70-fad9 fb00-fb06 fb13-fb17 fb1d fb1f-fb28 fb2a-fb36 "
        "fb38-fb3c fb3e fb40-fb41 fb43-fb44 fb46-fbb1 fbd3-fd3d fd50-fd8f fd92-fdc7 fdf0-fdfb fe70-fe74 fe76-fefc "
        "ff21-ff3a ff41-ff5a ff66-ffbe ffc2-ffc7 ffca-ffcf ffd2-ffd7 ffda-ffdc "),
    "digit": (
        "30-39 660-669 6f0-6f9 7c0-7c9 966-96f 9e6-9ef a66-a6f ae6-aef b66-b6f be6-bef c66-c6f ce6-cef d66-d6f e50-e59 "
        "ed0-ed9 f20-f29 1040-1049 1090-1099 17e0-17e9 1810-1819 1946-194f 19d0-19d9 1a80-1a89 1a90-1a99 1b50-1b59 "
        "1bb0-1bb9 1c40-1c49 1c50-1c59 a620-a629 a8d0-a8d9 a900-a909 a9d0-a9d9 aa50-aa59 abf0-abf9 ff10-ff19 "),
    "uppercase": (
        "41-5a c0-d6 d8-de 100 102 104 106 108 10a 10c 10e 110 112 114 116 118 11a 11c 11e 120 122 124 126 128 12a 12c "
        "12e 130 132 134 136 139 13b 13d 13f 141 143 145 147 14a 14c 14e 150 152 154 156 158 15a 15c 15e 160 162 164 166 "
        "168 16a 16c 16e 170 172 174 176 178-179 17b 17d 181-182 184 186-187 189-18b 18e-191 193-194 196-198 19c-19d "
        "19f-1a0 1a2 1a4 1a6-1a7 1a9 1ac 1ae-1af 1b1-1b3 1b5 1b7-1b8 1bc 1c4 1c7 1ca 1cd 1cf 1d1 1d3 1d5 1d7 1d9 1db 1de "
        "1e0 1e2 1e4 1e6 1e8 1ea 1ec 1ee 1f1 1f4 1f6-1f8 1fa 1fc 1fe 200 202 204 206 208 20a 20c 20e 210 212 214 216 218 "
        "21a 21c 21e 220 222 224 226 228 22a 22c 22e 230 232 23a-23b 23d-23e 241 243-246 248 24a 24c 24e 370 372 376 386 "
        "388-38a 38c 38e-38f 391-3a1 3a3-3ab 3cf 3d2-3d4 3d8 3da 3dc 3de 3e0 3e2 3e4 3e6 3e8 3ea 3ec 3ee 3f4 3f7 3f9-3fa "
        "3fd-42f 460 462 464 466 468 46a 46c 46e 470 472 474 476 478 47a 47c 47e 480 48a 48c 48e 490 492 494 496 498 49a "
        "49c 49e 4a0 4a2 4a4 4a6 4a8 4aa 4ac 4ae 4b0 4b2 4b4 4b6 4b8 4ba 4bc 4be 4c0-4c1 4c3 4c5 4c7 4c9 4cb 4cd 4d0 4d2 "
        "4d4 4d6 4d8 4da 4dc 4de 4e0 4e2 4e4 4e6 4e8 4ea 4ec 4ee 4f0 4f2 4f4 4f6 4f8 4fa 4fc 4fe 500 502 504 506 508 50a "
        "50c 50e 510 512 514 516 518 51a 51c 51e 520 522 524 526 531-556 10a0-10c5 10c7 10cd 1e00 1e02 1e04 1e06 1e08 "
        "1e0a 1e0c 1e0e 1e10 1e12 1e14 1e16 1e18 1e1a 1e1c 1e1e 1e20 1e22 1e24 1e26 1e28 1e2a 1e2c 1e2e 1e30 1e32 1e34 "
        "1e36 1e38 1e3a 1e3c 1e3e 1e40 1e42 1e44 1e46 1e48 1e4a 1e4c 1e4e 1e50 1e52 1e54 1e56 1e58 1e5a 1e5c 1e5e 1e60 "
        "1e62 1e64 1e66 1e68 1e6a 1e6c 1e6e 1e70 1e72 1e74 1e76 1e78 1e7a 1e7c 1e7e 1e80 1e82 1e84 1e86 1e88 1e8a 1e8c "
        "1e8e 1e90 1e92 1e94 1e9e 1ea0 1ea2 1ea4 1ea6 1ea8 1eaa 1eac 1eae 1eb0 1eb2 1eb4 1eb6 1eb8 1eba 1ebc 1ebe 1ec0 "
        "1ec2 1ec4 1ec6 1ec8 1eca 1ecc 1ece 1ed0 1ed2 1ed4 1ed6 1ed8 1eda 1edc 1ede 1ee0 1ee2 1ee4 1ee6 1ee8 1eea 1eec "
        "1eee 1ef0 1ef2 1ef4 1ef6 1ef8 1efa 1efc 1efe 1f08-1f0f 1f18-1f1d 1f28-1f2f 1f38-1f3f 1f48-1f4d 1f59 1f5b 1f5d "
        "1f5f 1f68-1f6f 1fb8-1fbb 1fc8-1fcb 1fd8-1fdb 1fe8-1fec 1ff8-1ffb 2102 2107 210b-210d 2110-2112 2115 2119-211d "
        "2124 2126 2128 212a-212d 2130-2133 213e-213f 2145 2160-216f 2183 24b6-24cf 2c00-2c2e 2c60 2c62-2c64 2c67 2c69 "
        "2c6b 2c6d-2c70 2c72 2c75 2c7e-2c80 2c82 2c84 2c86 2c88 2c8a 2c8c 2c8e 2c90 2c92 2c94 2c96 2c98 2c9a 2c9c 2c9e "
        "2ca0 2ca2 2ca4 2ca6 2ca8 2caa 2cac 2cae 2cb0 2cb2 2cb4 2cb6 2cb8 2cba 2cbc 2cbe 2cc0 2cc2 2cc4 2cc6 2cc8 2cca "
        "2ccc 2cce 2cd0 2cd2 2cd4 2cd6 2cd8 2cda 2cdc 2cde 2ce0 2ce2 2ceb 2ced 2cf2 a640 a642 a644 a646 a648 a64a a64c "
        "a64e a650 a652 a654 a656 a658 a65a a65c a65e a660 a662 a664 a666 a668 a66a a66c a680 a682 a684 a686 a688 a68a "
        "a68c a68e a690 a692 a694 a696 a722 a724 a726 a728 a72a a72c a72e a732 a734 a736 a738 a73a a73c a73e a740 a742 "
        "a744 a746 a748 a74a a74c a74e a750 a752 a754 a756 a758 a75a a75c a75e a760 a762 a764 a766 a768 a76a a76c a76e "
        "a779 a77b a77d-a77e a780 a782 a784 a786 a78b a78d a790 a792 a7a0 a7a2 a7a4 a7a6 a7a8 a7aa ff21-ff3a "),
}


@functools.cache
def _classes() -> dict:
    def cls(spec: str) -> str:                  # literal characters (faster for re to parse than \\u escapes)
        out = []
        for r in spec.split():
            a, _, b = r.partition("-")
            out.append(re.escape(chr(int(a, 16))) + ("-" + re.escape(chr(int(b, 16))) if b else ""))
        return "".join(out)
    return {name: cls(spec) for name, spec in _JAVA_CLASSES.items()}


# ----------------------------------------------------------------------------- JFlex -> Python regex
def _flex(pat: str, macros: dict) -> str:
    """Translate a JFlex regular expression (as written in PTBLexer.flex) into Python syntax:
    {MACRO} expansion, %caseless for letters outside character classes, [:letter:] & co., [^] and '.'."""
    cls = _classes()
    out, i, n = [], 0, len(pat)
    while i < n:
        c = pat[i]
        if c == "\\":
            if pat[i + 1] == "u":
                out.append(pat[i:i + 6])
                i += 6
            elif pat[i + 1] == "x":
                out.append(pat[i:i + 4])
                i += 4
            else:
                out.append("\\" + pat[i + 1] if not pat[i + 1].isalnum() else pat[i:i + 2])
                i += 2
        elif c == "[":
            if pat.startswith("[^]", i):
                out.append("[\\s\\S]")
                i += 3
                continue
            for name in ("letter", "digit", "uppercase"):
                tag = f"[:{name}:]"
                if pat.startswith(tag, i):
                    out.append(f"[{cls[name]}]")
                    i += len(tag)
                    break
            else:
                j = i + 1
                if j < n and pat[j] == "^":
                    j += 1
                if j < n and pat[j] == "]":
                    j += 1
                while pat[j] != "]":
                    j += 2 if pat[j] == "\\" else 1
                body = pat[i + 1:j]
                if body.startswith("]"):
                    body = "\\" + body
                out.append("[" + body + "]")
                i = j + 1
        elif c == "{" and i + 1 < n and pat[i + 1].isalpha():
            j = pat.index("}", i)
            out.append("(?:" + macros[pat[i + 1:j]] + ")")
            i = j + 1
        elif c == "{":
            j = pat.index("}", i)
            out.append(pat[i:j + 1])
            i = j + 1
        elif c == ".":
            out.append("[^\\n]")
            i += 1
        elif c == '"':
            j = pat.index('"', i + 1)
            out.append("".join(f"[{ch.lower()}{ch.upper()}]" if ch.isascii() and ch.isalpha() else re.escape(ch)
                               for ch in pat[i + 1:j]))
            i = j + 1
        elif c.isascii() and c.isalpha():
            out.append(f"[{c.lower()}{c.upper()}]")                      # %caseless
            i += 1
        elif c == "'" or c == "#" or c == "&" or c == ";" or c == "@" or c == "=" or c == "<" or c == ">" or \
                c == "," or c == ":" or c == "%" or c == "~" or c == "`" or c == "_" or c == "-" or c == "!":
            out.append(re.escape(c))
            i += 1
        else:
            out.append(c)                                                  # ( ) | * + ? digits
            i += 1
    return "".join(out)


def _split_top(pat: str) -> list[str]:
    """Top-level alternatives of a JFlex expression (so that the longest one can be taken)."""
    parts, depth, cur, i, inclass = [], 0, [], 0, False
    while i < len(pat):
        c = pat[i]
        if c == "\\":
            cur.append(pat[i:i + 2])
            i += 2
            continue
        if inclass:
            if c == "]" and not (cur and cur[-1] in ("[", "[^")):
                inclass = False
        elif c == "[":
            inclass = True
            if pat.startswith("[^]", i):
                cur.append("[^]")
                i += 3
                inclass = False
                continue
            if pat[i + 1:i + 2] == "^":
                cur.append("[^")
                i += 2
                continue
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


# The macros of PTBLexer.flex (CoreNLP 3.4.1), transcribed. Alternatives inside groups are ordered so that
# Python's first-match gives JFlex's longest match where that matters.
_MACROS_SRC = [
    ("SGML", r"""\<([!\?][A-Za-z\-][^>\r\n]*|[A-Za-z][A-Za-z0-9_:\.\-]*([ ]+([A-Za-z][A-Za-z0-9_:\.\-]*[ ]*=[ ]*('[^']*'|\"[^\"]*\")|[A-Za-z][A-Za-z0-9_:\.\-]*))*[ ]*\/?|\/[A-Za-z][A-Za-z0-9_:\.\-]*)[ ]*\>"""),
    ("SPMDASH", r"&(MD|mdash|ndash);|[\u0096\u0097\u2013\u2014\u2015]"),
    ("SPAMP", r"&amp;"),
    ("SPPUNC", r"&(HT|TL|UR|LR|QC|QL|QR|odq|cdq|#[0-9]+);"),
    ("SPLET", r"&[aeiouAEIOU](acute|grave|uml);"),
    ("SPACE", r"[ \t\u00A0\u2000-\u200A\u3000]"),
    ("SPACES", r"{SPACE}+"),
    ("NEWLINE", r"\r\n|\r|\n|\u2028|\u2029|\u000B|\u000C|\u0085"),
    ("SPACENL", r"({SPACE}|{NEWLINE})"),
    ("SPACENLS", r"{SPACENL}+"),
    ("SENTEND", r"{SPACENL}({SGML}|{SPACENL}|[:uppercase:])"),
    ("DIGIT", r"[:digit:]|[\u07C0-\u07C9]"),
    ("DATE", r"{DIGIT}{DIGIT}?[\-\/]{DIGIT}{DIGIT}?[\-\/]{DIGIT}{2,4}"),
    ("NUM", r"{DIGIT}*([.:,\u00AD\u066B\u066C]{DIGIT}+)+|{DIGIT}+"),
    ("NUMBER", r"[\-+]?{NUM}"),
    ("SUBSUPNUM", r"[\u207A\u207B\u208A\u208B]?([\u2070\u00B9\u00B2\u00B3\u2074-\u2079]+|[\u2080-\u2089]+)"),
    ("FRAC", r"({DIGIT}{1,4}[- \u00A0])?{DIGIT}{1,4}(\\?\/|\u2044){DIGIT}{1,4}"),
    ("FRAC2", r"[\u00BC\u00BD\u00BE\u2153-\u215E]"),
    ("DOLSIGN", r"([A-Z]*\$|#)"),
    ("DOLSIGN2", r"[\u00A2\u00A3\u00A4\u00A5\u0080\u20A0\u20AC\u060B\u0E3F\u20A4\uFFE0\uFFE1\uFFE5\uFFE6]"),
    ("LETTER", r"([:letter:]|{SPLET}|[\u00AD\u0237-\u024F\u02C2-\u02C5\u02D2-\u02DF\u02E5-\u02FF\u0300-\u036F\u0370-\u037D\u0384\u0385\u03CF\u03F6\u03FC-\u03FF\u0483-\u0487\u04CF\u04F6-\u04FF\u0510-\u0525\u055A-\u055F\u0591-\u05BD\u05BF\u05C1\u05C2\u05C4\u05C5\u05C7\u0615-\u061A\u063B-\u063F\u064B-\u065E\u0670\u06D6-\u06EF\u06FA-\u06FF\u070F\u0711\u0730-\u074F\u0750-\u077F\u07A6-\u07B1\u07CA-\u07F5\u07FA\u0900-\u0903\u093C\u093E-\u094E\u0951-\u0955\u0962-\u0963\u0981-\u0983\u09BC-\u09C4\u09C7\u09C8\u09CB-\u09CD\u09D7\u09E2\u09E3\u0A01-\u0A03\u0A3C\u0A3E-\u0A4F\u0A81-\u0A83\u0ABC-\u0ACF\u0B82\u0BBE-\u0BC2\u0BC6-\u0BC8\u0BCA-\u0BCD\u0C01-\u0C03\u0C3E-\u0C56\u0D3E-\u0D44\u0D46-\u0D48\u0E30-\u0E3A\u0E47-\u0E4E\u0EB1-\u0EBC\u0EC8-\u0ECD])"),
    ("WORD", r"{LETTER}({LETTER}|{DIGIT})*([.!?]{LETTER}({LETTER}|{DIGIT})*)*"),
    ("FILENAME_EXT", "|".join(sorted("bat|bmp|c|class|cgi|cpp|dll|doc|docx|exe|gif|gz|h|htm|html|jar|java|jpeg|jpg|mov|mp3|"
                                     "pdf|php|pl|png|ppt|ps|py|sql|tar|txt|wav|x|xml|zip".split("|"), key=lambda w: -len(w)))),
    ("FILENAME", r"({LETTER}|{DIGIT})+([.]({LETTER}|{DIGIT})+)*([.]({FILENAME_EXT}))"),
    ("APOS", r"['\u0092\u2019]|&apos;"),
    ("APOSETCETERA", r"{APOS}|[`\u0091\u2018\u201B]"),
    ("HYPHEN", r"[-_\u058A\u2010\u2011]"),
    ("THING", r"([dDoOlL]{APOSETCETERA}([:letter:]|[:digit:]))?([:letter:]|[:digit:])+({HYPHEN}([dDoOlL]{APOSETCETERA}([:letter:]|[:digit:]))?([:letter:]|[:digit:])+)*"),
    ("THINGA", r"[A-Z]+(({SPAMP}|[+&])[A-Z]+)+"),
    ("THING3", r"[A-Za-z0-9]+(-[A-Za-z]+){0,2}(\\?\/[A-Za-z0-9]+(-[A-Za-z]+){0,2}){1,2}"),
    ("ACRO", r"(Canada|Sino|Korean|EU|Japan|non)-U\.S|U\.S\.-(U\.K|U\.S\.S\.R)|[A-Za-z](\.[A-Za-z])*"),
    ("ACRO2", r"(Canada|Sino|Korean|EU|Japan|non)-U\.S|U\.S\.-(U\.K|U\.S\.S\.R)|[A-Za-z](\.[A-Za-z])+"),
    ("HTHING", r"[A-Za-z0-9][A-Za-z0-9.,\u00AD]*(-({ACRO2}\.|[A-Za-z0-9\u00AD]+))+"),
    ("REDAUX", r"{APOS}([msdMSD]|re|ve|ll)"),
    ("SWORD", r"[A-Za-z\u00AD]*[A-MO-Za-mo-z](\u00AD)*"),
    ("SREDAUX", r"n{APOSETCETERA}t"),
    ("APOWORD", r"{APOS}n{APOS}?|[lLdDjJ]{APOS}|Dunkin{APOS}|somethin{APOS}|ol{APOS}|{APOS}em|[A-HJ-XZn]{APOSETCETERA}[:letter:]{2}[:letter:]*|{APOS}[2-9]0s|{APOS}till?|[:letter:][:letter:]*[aeiouyAEIOUY]{APOSETCETERA}[aeiouA-Z][:letter:]*|{APOS}cause|cont'd\.?|'twas|nor'easter|c'mon|e'er|s'mores|ev'ry|li'l|nat'l|O{APOSETCETERA}o"),
    ("APOWORD2", r"y{APOS}"),
    ("FULLURL", r"https?:\/\/[^ \t\n\f\r\"<>|(){}]+[^ \t\n\f\r\"<>|.!?(){},-]"),
    ("LIKELYURL", r"((www\.([^ \t\n\f\r\"<>|.!?(){},]+\.)+[a-zA-Z]{2,4})|(([^ \t\n\f\r\"`'<>|.!?(){},-_$]+\.)+(com|net|org|edu)))(\/[^ \t\n\f\r\"<>|()]+[^ \t\n\f\r\"<>|.!?(){},-])?"),
    ("EMAIL", r"(&lt;|<)?[a-zA-Z0-9][^ \t\n\f\r\"<>|()\u00A0{}]*@([^ \t\n\f\r\"<>|(){}.\u00A0]+\.)*([^ \t\n\f\r\"<>|(){}.\u00A0]+)(&gt;|>)?"),
    ("TWITTER", r"@[a-zA-Z_][a-zA-Z_0-9]*|#{LETTER}+"),
    ("ABMONTH", r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"),
    ("ABDAYS", r"Mon|Tue|Tues|Wed|Thu|Thurs|Fri"),
    ("ABSTATE", r"Ala|Ariz|[A]z|[A]rk|Calif|Colo|Conn|Ct|Dak|[D]el|Fla|Ga|[I]ll|Ind|Kans?|Ky|[L]a|[M]ass|Md|Mich|Minn|[M]iss|Mo|Mont|Neb|Nev|Okla|[O]re|[P]a|Penn|Tenn|[T]ex|Va|Vt|[W]ash|Wisc?|Wyo"),
    ("ABCOMP", r"Inc|Cos?|Corp|Pp?t[ye]s?|Ltd|Plc|Rt|Bancorp|Bhd|Assn|Univ|Intl|Sys"),
    ("ABNUM", r"tel|est|ext|sq"),
    ("ABPTIT", r"Jr|Sr|Bros|(Ed|Ph)\.D|Blvd|Rd|Esq"),
    ("ABBREV1", r"({ABMONTH}|{ABDAYS}|{ABSTATE}|{ABCOMP}|{ABNUM}|{ABPTIT}|etc|al|seq|Bldg)\."),
    ("ABTITLE", r"Mr|Mrs|Ms|[M]iss|Drs?|Profs?|Sens?|Reps?|Attys?|Lt|Col|Gen|Messrs|Govs?|Adm|Rev|Maj|Sgt|Cpl|Pvt|Capt|Ste?|Ave|Pres|Lieut|Hon|Brig|Co?mdr|Pfc|Spc|Supts?|Det|Mt|Ft|Adj|Adv|Asst|Assoc|Ens|Insp|Mlle|Mme|Msgr|Sfc"),
    ("ABCOMP2", r"Invt|Elec|Natl|M[ft]g|Dept"),
    ("ABBREV4", r"{ABTITLE}|vs|Alex|Wm|Jos|Cie|a\.k\.a|cf|TREAS|Ph|{ACRO}|{ABCOMP2}"),
    ("ABBREV2", r"{ABBREV4}\."),
    ("ACRONYM", r"({ACRO})\."),
    ("ABBREV3", r"(ca|figs?|prop|nos?|art|bldg|prop|pp|op)\."),
    ("PHONE", r"(\([0-9]{2,3}\)[ \u00A0]?|(\+\+?)?([0-9]{2,4}[\- \u00A0])?[0-9]{2,4}[\- \u00A0])[0-9]{3,4}[\- \u00A0]?[0-9]{3,5}|((\+\+?)?[0-9]{2,4}\.)?[0-9]{2,4}\.[0-9]{3,4}\.[0-9]{3,5}"),
    ("LDOTS", r"\.{3,5}|(\.[ \u00A0]){2,4}\.|[\u0085\u2026]"),
    ("INSENTP", r"[,;:\u3001]"),
    ("QUOTES", r"{APOS}|''|[`\u2018\u2019\u201A\u201B\u201C\u201D\u0091\u0092\u0093\u0094\u201E\u201F\u2039\u203A\u00AB\u00BB]{1,2}"),
    ("DBLQUOT", r"\"|&quot;"),
    ("TBSPEC", r"-(RRB|LRB|RCB|LCB|RSB|LSB)-|C\.D\.s|pro-|anti-|S(&amp;|&)P-500|S(&amp;|&)Ls|Cap{APOS}n|c{APOS}est"),
    ("TBSPEC2", r"{APOS}[0-9][0-9]"),
    ("SMILEY", r"[<>]?[:;=][\-o\*']?[\(\)DPdpO\\{@\|\[\]]"),
    ("ASIANSMILEY", r"[\^x=~<>]\.\[\^x=~<>]|[\-\^x=~<>']_[\-\^x=~<>']|\([\-\^x=~<>'][_.]?[\-\^x=~<>']\)|\([\^x=~<>']-[\^x=~<>'`]\)"),
    ("MISCSYMBOL", "[+%&~\\^|\\\\\u00A6\u00A7\u00A8\u00A9\u00AC\u00AE\u00AF\u00B0-\u00B3\u00B4-\u00BA\u00D7\u00F7\u0387\u05BE\u05C0\u05C3\u05C6\u05F3\u05F4\u0600-\u0603\u0606-\u060A\u060C\u0614\u061B\u061E\u066A\u066D\u0703-\u070D\u07F6\u07F7\u07F8\u0964\u0965\u0E4F\u1FBD\u2016\u2017\u2020-\u2023\u2030-\u2038\u203B\u203E-\u2042\u2044\u207A-\u207F\u208A-\u208E\u2100-\u214F\u2190-\u21FF\u2200-\u2BFF\u3012\u30FB\uFF01-\uFF0F\uFF1A-\uFF20\uFF3B-\uFF40\uFF5B-\uFF65\uFF65]"),
]

_ACRONYM_NEXT = ("[A]bout|[A]ccording|[A]dditionally|[A]fter|[A]n|[A]|[A]s|[A]t|[B]ut|[E]arlier|[H]e|[H]er|[H]ere|"
                 "[H]owever|[I]f|[I]n|[I]t|[L]ast|[M]any|[M]ore|[M]r\\.|[M]s\\.|[N]ow|[O]nce|[O]ne|[O]ther|[O]ur|[S]he|"
                 "[S]ince|[S]o|[S]ome|[S]uch|[T]hat|[T]he|[T]heir|[T]hen|[T]here|[T]hese|[T]hey|[T]his|[W]e|[W]hen|"
                 "[W]hile|[W]hat|[Y]et|[Y]ou|{SGML}")

# (name, r1, r2 or None). Order = PTBLexer.flex's rule order (the YyStrictlyTreebank3 rule is inactive).
_RULES_SRC = [
    ("cplusplus", r"c[+][+]", None),
    ("csharp", r"(c|f)#", None),
    ("cannot", r"cannot", None),
    ("twas", r"'twas", None),
    ("tis", r"'tis", None),
    ("gonna", r"gonna|gotta|lemme|gimme|wanna", None),
    ("sgml", r"{SGML}", None),
    ("spmdash", r"{SPMDASH}", None),
    ("spamp", r"{SPAMP}", None),
    ("sppunc", r"{SPPUNC}", None),
    ("word_redaux", r"{WORD}", r"{REDAUX}"),
    ("sword_sredaux", r"{SWORD}", r"{SREDAUX}"),
    ("word", r"{WORD}", None),
    ("apoword", r"{APOWORD}", None),
    ("apoword2", r"{APOWORD2}", r"[:letter:]"),
    ("fullurl", r"{FULLURL}", None),
    ("likelyurl", r"{LIKELYURL}", None),
    ("email", r"{EMAIL}", None),
    ("twitter", r"{TWITTER}", None),
    ("redaux_ctx", r"{REDAUX}", r"[^A-Za-z]"),
    ("sredaux_ctx", r"{SREDAUX}", r"[^A-Za-z]"),
    ("date", r"{DATE}", None),
    ("number", r"{NUMBER}", None),
    ("subsupnum", r"{SUBSUPNUM}", None),
    ("frac", r"{FRAC}", None),
    ("frac2", r"{FRAC2}", None),
    ("tbspec", r"{TBSPEC}", None),
    ("thing3", r"{THING3}", None),
    ("dolsign", r"{DOLSIGN}", None),
    ("dolsign2", r"{DOLSIGN2}", None),
    ("acronym", r"{ACRONYM}", r"({SPACENLS})(" + _ACRONYM_NEXT + "){SPACENL}"),
    ("abbrev3", r"{ABBREV3}", r"{SPACENL}?[:digit:]"),
    ("pty", r"(pt[eyEY]|co)\.", r"{SPACE}(ltd|lim)"),
    ("abbrev1_sentend", r"{ABBREV1}", r"{SENTEND}"),
    ("abbrev1_ctx", r"{ABBREV1}", r"[^][^]"),
    ("abbrev1", r"{ABBREV1}", None),
    ("abbrev2", r"{ABBREV2}", None),
    ("abbrev4", r"{ABBREV4}", r"{SPACE}"),
    ("acro", r"{ACRO}", r"{SPACENL}"),
    ("tbspec2", r"{TBSPEC2}", r"{SPACENL}"),
    ("filename", r"{FILENAME}", r"({SPACENL}|[.?!,])"),
    ("word_dot", r"{WORD}\.", r"{INSENTP}"),
    ("phone", r"{PHONE}", None),
    ("dblquot_left", r"{DBLQUOT}", r"[A-Za-z0-9$]"),
    ("dblquot", r"{DBLQUOT}", None),
    ("del", r"\x7f", None),
    ("lessthan", r"<|&lt;", None),
    ("greaterthan", r">|&gt;", None),
    ("smiley", r"{SMILEY}", r"[^A-Za-z0-9]"),
    ("asiansmiley", r"{ASIANSMILEY}", None),
    ("lcb", r"\{", None),
    ("rcb", r"\}", None),
    ("lsb", r"\[", None),
    ("rsb", r"\]", None),
    ("lrb", r"\(", None),
    ("rrb", r"\)", None),
    ("hyphens", r"\-+", None),
    ("ldots", r"{LDOTS}", None),
    ("fnmarks", r"@+|#+|_+", None),
    ("asts", r"\*+|(\\\*){1,3}", None),
    ("insentp", r"{INSENTP}", None),
    ("qmarks", r"[?!]+", None),
    ("period", r"[.\u00A1\u00BF\u037E\u0589\u061F\u06D4\u0700-\u0702\u07FA\u3002]", None),
    ("equals", r"=", None),
    ("slash", r"\/", None),
    ("hthing_dot", r"{HTHING}\.", r"{INSENTP}"),
    ("hthing", r"{HTHING}", None),
    ("thing_dot", r"{THING}\.", r"{INSENTP}"),
    ("thing", r"{THING}", None),
    ("thinga_dot", r"{THINGA}\.", r"{INSENTP}"),
    ("thinga", r"{THINGA}", None),
    ("quote_left", r"'", r"[A-Za-z][^ \t\n\r\u00A0]"),
    ("redaux", r"{REDAUX}", None),
    ("sredaux", r"{SREDAUX}", None),
    ("quotes", r"{QUOTES}", None),
    ("fakeduckfeet", r"<<|>>", None),
    ("miscsymbol", r"{MISCSYMBOL}", None),
    ("space", r"\x00|{SPACES}|[\u200B\u200E-\u200F\uFEFF]", None),
    ("newline", r"{NEWLINE}", None),
    ("nbsp", r"&nbsp;", None),
    ("any", r".", None),
]

# the lexer's token normalizations (PTBLexer.flex's actions with ptb3Escaping defaults)
_SINGLE_Q = re.compile(r"&apos;|'")        # (case-sensitive in the lexer's actions, unlike its rules)
_DOUBLE_Q = re.compile(r"\"|&quot;")
_LATEX = [(re.compile("[\u0091\u2018\u201B\u2039]"), "`"), (re.compile("[\u0092\u2019\u203A]"), "'"),
          (re.compile("[\u0093\u201C\u00AB]"), "``"), (re.compile("[\u0094\u201D\u00BB]"), "''")]
_AMP = re.compile(r"&amp;", re.I)
_FRACS = {"\u00BC": "1/4", "\u00BD": "1/2", "\u00BE": "3/4", "\u2153": "1/3", "\u2154": "2/3"}


def _quotes(tok: str, left: bool) -> str:
    tok = _SINGLE_Q.sub("`" if left else "'", tok)
    tok = _DOUBLE_Q.sub("``" if left else "''", tok)
    for p, r in _LATEX:
        tok = p.sub(r, tok)
    return tok


def _no_soft_hyphens(tok: str) -> str:
    if "\u00AD" not in tok:
        return tok
    return tok.replace("\u00AD", "") or "-"


def _currency(tok: str) -> str:
    return re.sub("[\u0080\u00A4\u20A0\u20AC]", "$", tok.replace("\u00A2", "cents").replace("\u00A3", "#"))


def _parens(tok: str) -> str:
    return tok.replace("(", "-LRB-").replace(")", "-RRB-")


class _Lexer:
    def __init__(self):
        macros: dict = {}
        for name, src in _MACROS_SRC:
            macros[name] = _flex(src, macros)
        self.rules = []
        for name, r1, r2 in _RULES_SRC:
            # the longest match over a rule's top-level alternatives (Python's | takes the first that matches)
            if re.fullmatch(r"\{[A-Z0-9_]+\}", r1):
                alts = _split_top(dict(_MACROS_SRC)[r1[1:-1]])
            else:
                alts = _split_top(r1)
            pats = []
            for a in alts:
                py = _flex(a, macros)
                if r2 is None:
                    pats.append((re.compile(py), None))
                else:
                    r2py = _flex(r2, macros)
                    pats.append((re.compile(f"(?:{py})(?=(?:{r2py}))"), re.compile(r2py)))
            self.rules.append((name, pats))
        self.macros = macros
        # dispatch on the first character: the rules that can start with it (from the compiled patterns)
        firsts = [_first_chars(name, pats) for name, pats in self.rules]
        self.by_ascii = [[r for r, (asc, _) in zip(self.rules, firsts) if ch in asc] for ch in range(128)]
        self.non_ascii = [r for r, (_, non) in zip(self.rules, firsts) if non]

    def longest(self, s: str, pos: int):
        """(rule name, end of the token text, end of the whole match incl. trailing context)."""
        best, best_total, best_end = None, 0, 0
        o = ord(s[pos])
        for name, pats in (self.by_ascii[o] if o < 128 else self.non_ascii):
            for p, ctx in pats:
                m = p.match(s, pos)
                if m is None:
                    continue
                end = m.end()
                total = end
                if ctx is not None:
                    total = end + _ctx_len(ctx, s, end)
                if total > best_total:
                    best, best_total, best_end = name, total, end
        return best, best_end, best_total


try:                                    # the regex parser (re._parser from Python 3.11, sre_parse before)
    import re._parser as _sre_parse
    from re import _constants as _sre_c
except ImportError:                     # pragma: no cover
    import sre_constants as _sre_c
    import sre_parse as _sre_parse

_ALL_ASCII = frozenset(range(128))


def _first_of(items):
    """(ASCII code points a match can start with, whether it can start with a non-ASCII one, nullable):
    a superset, from the parsed pattern."""
    asc, non = set(), False
    for op, av in items:
        nullable = False
        if op is _sre_c.LITERAL:
            a, n = ({av} if av < 128 else set()), av >= 128
        elif op is _sre_c.NOT_LITERAL or op is _sre_c.ANY:
            a, n = set(_ALL_ASCII), True
        elif op is _sre_c.IN:
            a, n, neg = set(), False, False
            for iop, iav in av:
                if iop is _sre_c.NEGATE:
                    neg = True
                elif iop is _sre_c.LITERAL:
                    a |= {iav} if iav < 128 else set()
                    n |= iav >= 128
                elif iop is _sre_c.RANGE:
                    a |= set(range(iav[0], min(iav[1], 127) + 1))
                    n |= iav[1] >= 128
                else:                           # a category: anything
                    a, n = set(_ALL_ASCII), True
            if neg:
                a, n = set(_ALL_ASCII) - a, True
        elif op is _sre_c.BRANCH:
            a, n = set(), False
            for seq in av[1]:
                sa, sn, snull = _first_of(seq)
                a |= sa
                n |= sn
                nullable |= snull
        elif op is _sre_c.SUBPATTERN:
            a, n, nullable = _first_of(av[-1])
        elif op in (_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT, getattr(_sre_c, "POSSESSIVE_REPEAT", None)):
            a, n, nullable = _first_of(av[2])
            nullable = nullable or av[0] == 0
        elif op in (_sre_c.ASSERT, _sre_c.ASSERT_NOT, _sre_c.AT):
            a, n, nullable = set(), False, True
        else:                                   # anything else: no claim
            a, n = set(_ALL_ASCII), True
        asc |= a
        non |= n
        if not nullable:
            return asc, non, False
    return asc, non, True


def _first_chars(name, pats):
    asc, non = set(), False
    for p, _ in pats:
        a, n, _null = _first_of(_sre_parse.parse(p.pattern))
        asc |= a
        non |= n
    return frozenset(asc), non


_MACROS_SRC_D = dict(_MACROS_SRC)


def _ctx_len(ctx, s, end):
    m = ctx.match(s, end)
    return m.end() - end if m else 0


@functools.cache
def _lexer() -> _Lexer:
    return _Lexer()


_SPLIT2 = frozenset({"gonna", "gotta", "lemme", "gimme", "wanna"})
_WS_RUN = re.compile("[ \t\u00A0\u2000-\u200A\u3000\x00\u200B\u200E\u200F\uFEFF\x7f]+")
_ALPHA_RUN = re.compile("[A-Za-z]+")
_AFTER_PLAIN = frozenset(" \t\n\u00A0\u3000")   # a letter run followed by one of these (or the end) is one WORD
_ABBREV_WORDS = None


def _abbrev_words() -> frozenset:
    """Every letter string that some abbreviation rule could take with a following period (a superset: a
    run in it goes to the full lexer)."""
    global _ABBREV_WORDS
    if _ABBREV_WORDS is None:
        words = set()
        for key in ("ABMONTH", "ABDAYS", "ABSTATE", "ABCOMP", "ABNUM", "ABTITLE", "ABCOMP2"):
            for a in _MACROS_SRC_D[key].split("|"):
                a = re.sub(r"\[(\w)\]", r"\1", a)
                # expand the few optional letters (Cos?, Drs?, Pp?t[ye]s?, ...)
                for w in _expand(a):
                    words.add(w.lower())
        words |= {"jr", "sr", "bros", "blvd", "rd", "esq", "etc", "al", "seq", "bldg", "vs", "alex", "wm", "jos",
                  "cie", "cf", "treas", "ph", "ca", "fig", "figs", "prop", "no", "nos", "art", "pp", "op", "pty", "pte",
                  "co", "d", "aka"}
        _ABBREV_WORDS = frozenset(words)
    return _ABBREV_WORDS


def _expand(a: str) -> list[str]:
    out = [""]
    i = 0
    while i < len(a):
        c = a[i]
        if c == "[":
            j = a.index("]", i)
            opts = list(a[i + 1:j])
            i = j + 1
        else:
            opts = [c]
            i += 1
        if i < len(a) and a[i] == "?":
            opts = opts + [""]
            i += 1
        out = [w + o for w in out for o in opts]
    return out


# A line of plain words (ASCII letters, single spaces, commas after words, one final period) is tokenized
# without the rule set: each word is one token, except the assimilations (cannot, gonna, ...: excluded
# here) and a final "X." where X is one letter or an abbreviation (excluded: its period can stay).
_SIMPLE_LINE = re.compile(r" *[A-Za-z]+(?:,? +[A-Za-z]+)*(?: *\.)? *")
_SPLIT_WORDS = frozenset({"cannot"}) | _SPLIT2
_SIMPLE_SPLIT = re.compile(r"[A-Za-z]+|[.,]")


def _plain_lines(raw: list, plain: list, final: bool) -> dict:
    """{line index: tokens} for the plain lines (matched by _SIMPLE_LINE) that need no rule: the finished
    string (lower case, punctuation removed) with final=True, else the raw token list. Left out: lines
    with an assimilation (cannot, gonna, ...) and lines ending "X." where X is one letter or an
    abbreviation (the lexer may keep that period)."""
    idx = [i for i, m in enumerate(plain) if m is not None]
    if not idx:
        return {}
    lowered = "\n".join([raw[i] for i in idx]).lower().replace(",", " ").replace(".", " ").split("\n")
    abbrev = _abbrev_words()
    out = {}
    for i, low in zip(idx, lowered):
        words = low.split()
        if not _SPLIT_WORDS.isdisjoint(words):
            continue
        line = raw[i]
        t = line.rstrip(" ")
        if t[-1] == "." and t[-2] != " ":       # "... word." (not "word ."): the period may belong to the word
            w = words[-1]
            if len(w) < 2 or w in abbrev:
                continue
        out[i] = " ".join(words) if final else _SIMPLE_SPLIT.findall(line)
    return out


def _lex(s: str, final: bool = False, rules_only: bool = False) -> list:
    """Token lines of the stream `s` (lines split by the lexer's NEWLINE): raw PTB tokens, not lower-cased;
    with final=True a plain line comes back as its finished string (lower case, punctuation removed).
    rules_only=True skips the fast paths (the tests check that they change nothing)."""
    raw = s.split("\n")
    plain = _plain_lines(raw, list(map(_SIMPLE_LINE.fullmatch, raw)), final) if not rules_only else {}
    starts = list(itertools.accumulate((len(x) + 1 for x in raw), initial=0))
    lines: list = []
    n = len(s)
    pos, i = 0, 0                      # i: the line that starts at or before pos
    while True:
        if starts[i] == pos and i in plain:
            lines.append(plain[i])
            i += 1
            if i == len(raw):
                return lines
            pos = starts[i]
            continue
        toks, pos, more = _lex_line(_lexer(), s, pos, n, rules_only)     # (the rule set is built once, lazily)
        lines.append(toks)
        if not more:
            return lines
        i = bisect.bisect_right(starts, pos) - 1      # (a token can span lines: an SGML tag with a newline)


def _lex_line(lx, s: str, pos: int, n: int, rules_only: bool = False):
    """Tokens from pos up to the next NEWLINE: (tokens, position after it, whether there was one)."""
    toks: list = []
    abbrev = _abbrev_words()
    while pos < n:
        c = s[pos]
        if rules_only:
            name, end, total = lx.longest(s, pos)
            pos = _act(name, s, pos, end, toks)
            if name == "newline":
                return toks, pos, True
            continue
        # fast paths, each equal to what the full rule set gives (checked by the tests on every input)
        if c in " \t\u00A0\u3000":
            pos = _WS_RUN.match(s, pos).end()
            continue
        if c == "\n":
            return toks, pos + 1, True
        if c.isascii() and c.isalpha():
            m = _ALPHA_RUN.match(s, pos)
            e = m.end()
            nxt = s[e] if e < n else " "
            w = m.group()
            if nxt in _AFTER_PLAIN or (nxt == "." and e - pos > 1 and (e + 1 == n or s[e + 1] in _AFTER_PLAIN)
                                        and w.lower() not in abbrev):
                lw = w.lower()
                if lw == "cannot" or lw in _SPLIT2:
                    toks += [w[:3], w[3:]]
                else:
                    toks.append(w)
                pos = e
                continue
        if c == "," and (pos + 1 == n or s[pos + 1] in _AFTER_PLAIN):
            toks.append(",")
            pos += 1
            continue
        if c == "." and (pos + 1 == n or s[pos + 1] == "\n" or (s[pos + 1] in _AFTER_PLAIN and s[pos + 2:pos + 3] != ".")):
            toks.append(".")
            pos += 1
            continue
        name, end, total = lx.longest(s, pos)
        pos = _act(name, s, pos, end, toks)
        if name == "newline":
            return toks, pos, True
    return toks, pos, False


def _act(name: str, s: str, start: int, end: int, toks: list) -> int:
    """Append the token(s) of rule `name` matching s[start:end]; return where the next token starts."""
    t = s[start:end]
    if name in ("cannot",):
        toks.append(t[:3])
        return start + 3
    if name == "twas":
        toks.append(t[:2])
        return start + 2
    if name == "tis":
        toks.append(t[:2])
        return start + 2
    if name == "gonna":
        toks.append(t[:3])
        return start + 3
    if name in ("sgml", "frac", "phone"):
        t = t.replace(" ", "\u00A0")
        if name == "phone":
            t = _parens(t)
        toks.append(t)
        return end
    if name == "spmdash":
        toks.append("--")
        return end
    if name in ("spamp", "tbspec", "thinga", "thinga_dot"):
        toks.append(_AMP.sub("&", t))
        return end
    if name in ("word_redaux", "sword_sredaux", "word", "number", "word_dot", "hthing", "hthing_dot"):
        toks.append(_no_soft_hyphens(t))
        return end
    if name in ("redaux_ctx", "sredaux_ctx", "dblquot", "redaux", "sredaux", "quotes"):
        toks.append(_quotes(t, False))
        return end
    if name in ("dblquot_left", "quote_left"):
        toks.append(_quotes(t, True))
        return end
    if name == "frac2":
        toks.append("".join(_FRACS.get(ch, ch) for ch in t))
        return end
    if name == "dolsign2":
        toks.append(_currency(t))
        return end
    if name == "acronym":
        while end > start and s[end - 1] in " \t\n\x0b\x0c\r\x85":   # (the lexer's own workaround)
            end -= 1
        if end - start == 2:
            toks.append(s[start:start + 1])
        else:
            toks.append(s[start:end])
        return end - 1
    if name == "abbrev3":
        toks.append(t)
        return end
    if name in ("abbrev1_sentend", "abbrev1"):
        toks.append(t)
        return end - 1
    if name in ("smiley", "asiansmiley"):
        toks.append(_parens(t))
        return end
    if name in ("lcb", "rcb", "lsb", "rsb", "lrb", "rrb"):
        toks.append({"lcb": "-LCB-", "rcb": "-RCB-", "lsb": "-LSB-", "rsb": "-RSB-", "lrb": "-LRB-", "rrb": "-RRB-"}[name])
        return end
    if name == "hyphens":
        toks.append("--" if 3 <= len(t) <= 4 else t)
        return end
    if name == "ldots":
        toks.append("...")
        return end
    if name == "lessthan":
        toks.append("<")
        return end
    if name == "greaterthan":
        toks.append(">")
        return end
    if name in ("del", "space", "nbsp", "newline", "any"):
        return end
    toks.append(t)
    return end


def _utf16(s: str) -> str:
    """Characters outside the BMP as the two UTF-16 surrogates the Java lexer sees."""
    if s.isascii() or not any(ord(c) > 0xFFFF for c in s):
        return s
    return "".join(c if ord(c) <= 0xFFFF else
                   chr(0xD800 + ((ord(c) - 0x10000) >> 10)) + chr(0xDC00 + ((ord(c) - 0x10000) & 0x3FF)) for c in s)


def _stream(captions) -> str:
    """What pycocoevalcap writes for the jar: the captions joined by "\\n", a "\\n" inside one made a space
    (the other line separators stay: the lexer ends a line there too, see _as_printed)."""
    text = "\n".join([c.replace("\n", " ") for c in captions])
    return text if text.isascii() else _utf16(text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _from_utf16(tok: str) -> str:
    """A token back from UTF-16 code units (a pair -> its character; a lone half, as Java prints it, '?')."""
    try:
        return tok.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        return "".join(_from_utf16(p) if len(p) == 2 else "?" for p in
                       re.findall("[\ud800-\udbff][\udc00-\udfff]|.", tok, flags=re.S))


def _as_printed(lines: list, n_captions: int) -> list:
    """The lines as pycocoevalcap reads them back: the jar prints a token with a newline inside (an SGML
    tag spanning two captions) as is, so its output splits there; then one line per caption (its zip:
    extra lines, from line separators inside captions, are dropped at the end)."""
    if any("\n" in t or _SURROGATE.search(t) for line in lines if not isinstance(line, str) for t in line):
        lines = [line if isinstance(line, str) else [_from_utf16(t) if _SURROGATE.search(t) else t for t in line]
                 for line in lines]
        text = "\n".join(line if isinstance(line, str) else " ".join(line) for line in lines)
        lines = [x.split(" ") if x else [] for x in text.split("\n")]
    lines = lines[:n_captions]
    return lines + [[]] * (n_captions - len(lines))


def raw_token_lines(captions: list[str], rules_only: bool = False) -> list[list[str]]:
    """The lower-cased PTB tokens of each caption, tokenized as one stream like one JVM call (before
    the punctuation tokens are removed)."""
    captions = list(captions)
    lines = _lex(_stream(captions), rules_only=rules_only)
    return [[t.lower() for t in line] for line in _as_printed(lines, len(captions))]


def tokenize_lines(captions: list[str]) -> list[str]:
    """coco-caption's PTBTokenizer on a list of captions (one call): each caption's tokens, lower case,
    punctuation tokens removed, joined by single spaces."""
    captions = list(captions)
    punct = PUNCTUATIONS
    return [line if isinstance(line, str) else " ".join([t for t in (x.lower() for x in line) if t not in punct])
            for line in _as_printed(_lex(_stream(captions), final=True), len(captions))]


def ptb_tokenize(text: str) -> str:
    """One caption on its own (as the only line of a PTBTokenizer call)."""
    return tokenize_lines([text])[0]


if __name__ == "__main__":
    for line in sys.stdin:
        print(ptb_tokenize(line.rstrip("\n")))
