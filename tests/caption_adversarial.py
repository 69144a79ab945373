"""A seeded generator of adversarial captions for the PTB tokenizer (tests/test_ptb_tokenizer.py compares
metrics.ptb_tokenizer with the Java tokenizer coco-caption runs on every sentence it makes).

Each category is a list of fragments that exercise one part of the Stanford lexer; a sentence is a
COCO-like caption with one to three fragments of its category spliced in, in random case variants.
Add a category by adding a list to FRAGMENTS (the test picks it up, with its count in the report).
"""
from __future__ import annotations

import random

WORDS = ("a man woman dog cat bus train plate pizza table street sign red blue two three people sitting "
         "standing on in of with the next to near riding holding large small white black group field "
         "kitchen bathroom toilet sink giraffe zebra elephant horse surfboard wave beach skateboard").split()

FRAGMENTS: dict[str, list[str]] = {
    "abbreviation_period": ["A.", "Plan B.", "No. 5", "no. 12", "a...", "Mr. Smith", "etc.", "St. Louis", "U.S.",
                            "the U.S. flag", "e.g.", "i.e. a dog", "Dr.", "vs.", "Inc.", "Jan. 5", "fig. 3", "a.m.",
                            "p.m.", "Mt. Fuji", "Co. Ltd", "Pty. Ltd", "Ph.D.", "Jr.", "Calif.", "ca. 1900", "op. 3",
                            "I.", "Z.", "x.", "Ave.", "Sept.", "Mass.", "mass.", "Ill.", "ill.", "al.", "U.S.A.",
                            "non-U.S.", "a.k.a.", "Bros.", "Wash.", "wash.", "P.", "Art. 5", "art."],
    "sentence_end_context": ["B. A man", "U.S. The", "A. The dog", "etc. And", "Inc. He", "c. It", "St. The",
                             "x. a dog", "Jan. Then", "No. A", "Q. You", "B.  The", "etc.\tA"],
    "curly_quotes": ["\u201cquoted\u201d", "\u2018single\u2019", "dog\u2019s", "don\u2019t", "\u00abguillemets\u00bb",
                     "\u201elow\u201c", "\u2039a\u203a", "\u201c", "\u201d", "\u2019", "it\u2019ll", "\u201cA\u201d",
                     "\u201b", "\u201f"],
    "straight_quotes": ['"quoted"', "'single'", '" spaced "', "''", "``", "'a'", '"5"', '"$5"', "'90", "he said 'no'"],
    "dashes": ["\u2013", "\u2014", "\u2015", "--", "---", "----", "-----", "-", "a - b", "\u2010", "\u2011", "a\u2014b",
               "&mdash;", "&ndash;", "&MD;", "1\u20132", "x--y"],
    "ellipsis": ["\u2026", "...", "....", ".....", "......", ". . .", ". . . .", "wait\u2026", "so...", "..", "a. .",
                 "\u0085"],
    "emoji": ["\U0001F600", "\U0001F436", "\U0001F355", "\u2764\ufe0f", "\u2600", "\u2728", "\U0001F44D\U0001F3FD",
              "dog\U0001F436dog", "\U0001F1FA\U0001F1F8", "\u263A", "\u2B50"],
    "fractions": ["\u00bd", "\u00bc", "\u00be", "\u2153", "\u2154", "\u215b", "1/2", "3 1/2", "1\u00bd", "10/20",
                  "1\u20442", "12345/6", "3-1/2"],
    "currency": ["\u20ac3", "$5", "\u00a310", "\u00a5100", "50\u00a2", "US$ 5", "A$", "\u20ac", "$", "C$10", "\u20a4",
                 "\u20b9", "\u0e3f", "$1.50", "\u00a4"],
    "symbols": ["\u00b0C", "5\u00b0", "\u00a9", "\u00ae", "\u2122", "\u00d7", "\u00b1", "\u00a7", "\u00b2", "x\u00b2",
                "\u2082", "%", "&", "+", "~", "^", "|", "\\", "\u2022", "\u00b7", "\u2020", "\u2192", "\u221e",
                "\u2713", "\u00ac", "\u00a6"],
    "assimilations": ["cannot", "Cannot", "CANNOT", "gonna", "gotta", "wanna", "lemme", "gimme", "'twas", "'tis",
                      "Gonna", "cannoted", "wannabe", "gonna's", "cannot.", "'Tis"],
    "emoticons": [":)", ":(", ";)", ":D", ":P", ":-)", "=)", ":-(", ":'(", "<3", "^_^", "-_-", "o_O", ":]", ":|",
                  ":O", ";-)", "(^_^)", "XD", ">:(", ":-D", ":p", ":\\", ":{", ":@"],
    "repeated_punct": ["??", "!!", "?!", "!!!", "?!?", "...?", "!?", "?", "!", ";;", "::", ",,", "a?b", "a!b", "why??"],
    "html_entities": ["A&amp;B", "&amp;", "&quot;hi&quot;", "&apos;", "&lt;", "&gt;", "&nbsp;", "AT&T", "&eacute;",
                      "caf&eacute;", "&#39;", "&QL;", "&AMP;", "S&P", "S&amp;P-500", "R&D", "&lt;tag&gt;", "&foo;"],
    "decades_years": ["'90s", "'80s", "90's", "1990s", "'05", "the '60s", "'20s", "'10", "in '99", "1980's"],
    "contractions": ["y'all", "Y'all", "don't", "can't", "won't", "I'm", "they're", "we've", "he'll", "she'd",
                     "o'clock", "rock'n'roll", "ma'am", "ain't", "'em", "'cause", "d'Angelo", "O'Neil", "shouldn't've",
                     "it's", "It's", "let's", "'n'", "l'eau", "c'mon", "li'l", "ol'", "somethin'", "Dunkin'",
                     "nor'easter", "cont'd", "ev'ry", "e'er", "s'mores", "Cap'n", "c'est", "y'know", "DON'T",
                     "dogs'", "James'", "n't", "'s", "'ll", "I'd've", "isn\u2019t", "can`t"],
    "case": ["ALL CAPS HERE", "Title Case Words", "mIxEd CaSe", "A MAN", "THE DOG'S BALL", "NO.", "IT'S"],
    "unicode_punct": ["\u3001", "\u3002", "\uff01", "\uff1f", "\uff0c", "\uff1b", "\uff1a", "\uff08a\uff09",
                      "\u3010a\u3011", "\u300ca\u300d", "\u2329", "\u00a1", "\u00bf", "\u2022", "\u2027", "\u2021",
                      "\u203b", "\u037e", "\u0589", "\u061f", "\u06d4", "\u2039", "\u3003", "\u30fb"],
    "numbers": ["1,000", "3.14", "-5", "+7", "1.5.3", "10:30", "12/25/2020", "2nd", "3rd", "100%", "#1", "$1.50",
                "1-800-555-1234", "(555) 123-4567", "1e5", ".5", "0.5", "1,5", "5,", "12-05-99", "1:2", "10.", "10.5.",
                "555.123.4567", "3x", "x3", "4-5", "2-year-old", "1st", "#", "##", "10th", "123456789", "1\u00ad000",
                "\u0661\u0662", "\u00b9\u00b2", "7/8"],
    "whitespace": ["a\tb", "a  b", "a\u00a0b", "  lead", "trail  ", "a\u3000b", "a\u200bb", "a\ufeffb", "a\u2003b",
                   "a\u200eb", "\t", "a \t b", "a\x7fb", "a\u2009b"],
    "urls_emails": ["http://x.com/a", "https://example.org/path?q=1.", "www.google.com", "example.com",
                    "john@example.com", "@user", "#hashtag", "#1 fan", "foo.org/bar", "a.b.c.net"],
    "brackets": ["(a)", "[b]", "{c}", "<d>", "()", "(5)", "((x))", "[1]", "<br>", "<b>bold</b>", "<br/>", "<a href='x'>",
                 "<<", ">>", "<", ">", "-LRB-", "-rrb-"],
    "slashes_asterisks": ["and/or", "a/b/c", "*", "**", "***", "\\*", "/", "w/", "24/7", "A/C", "km/h", "1/2/3",
                          "x/y-z", "*star*"],
    "hyphenated": ["black-and-white", "t-shirt", "x-ray", "co-op", "e-mail", "pro-life", "anti-war", "3-year-old",
                   "well-known", "-ing", "pre-", "-", "a-", "up-to-date", "U.S.-based", "mother-in-law", "o'er-the",
                   "self-_made", "a\u00adb"],
    "accented_nonlatin": ["caf\u00e9", "na\u00efve", "Z\u00fcrich", "\u041c\u043e\u0441\u043a\u0432\u0430",
                          "\u6771\u4eac", "stra\u00dfe", "\u00c9COLE", "\u0130stanbul", "\u03a3\u039f\u03a6\u039f\u03a3",
                          "\u0645\u0631\u062d\u0628\u0627", "\u05e9\u05dc\u05d5\u05dd", "\u0915\u093f", "e\u0301",
                          "\u00f1and\u00fa", "\u0237", "\u01c5"],
    "filenames": ["photo.jpg", "file.txt", "a.c", "index.html", "img.PNG", "run.py,", "x.doc.", "v1.2.zip"],
    "sgml": ["<b>", "</b>", "<br/>", "<a href='x'>", "<!-- c -->", "<a b='", "'>", "<?xml?>", "< x >", "<a\tb>",
             "<p class=\"c d\">", "</a >", "<x y=1>", "<3", "a<b", "<<b>>"],
    # letters Unicode added after 6.2 (the jar's JDK): not letters to the lexer, deleted; Mongolian U+1885/6
    # were letters then (Mn now); digits added later; upper case added later
    "unicode_versions": ["\uab91", "\u1c90", "\u08a0x\u0880", "\ua7ae", "\u4db8", "\u1885\u1886",
                         "\u0de6\u0de7", "a\ua9f1b", "etc. \u13a0", "\u0370", "\u037f", "\u0528a"],
    # separators the jar ends a line at (pycocoevalcap only replaces "\n"): later captions shift by a line
    "line_separators": ["a\rb", "\u2028", "x\u2029y", "\x0b", "\x0c", "\r", "end\r\n", "\x85"],
    "misc_words": ["c++", "C#", "f#", "S&Ls", "C.D.s", "a+b", "A+B", "AT&T.", "R&D,", "Sino-U.S.", "U.S.-U.K.",
                   "tel. 555", "est.", "sq. ft", "Fri.", "Wed.", "Tues.", "Mon."],
}


def _case(rng: random.Random, s: str) -> str:
    r = rng.random()
    if r < 0.15:
        return s.upper()
    if r < 0.3:
        return s.lower()
    if r < 0.4:
        return s.capitalize()
    return s


def sentence(rng: random.Random, category: str) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(2, 9))]
    if rng.random() < 0.5:
        words[0] = words[0].capitalize()
    for _ in range(rng.randint(1, 3)):
        frag = _case(rng, rng.choice(FRAGMENTS[category]))
        words.insert(rng.randint(0, len(words)), frag)
    glue = " "
    s = glue.join(words)
    r = rng.random()
    if r < 0.45:
        s += "."
    elif r < 0.55:
        s += " ."
    elif r < 0.6:
        s += rng.choice(["!", "?", " !", ",", ";", ":"])
    return s


def generate(seed: int = 0, per_category: int = 100) -> list[tuple[str, str]]:
    """[(category, sentence)], per_category sentences of each category, in a seeded order (the order matters:
    the Java tokenizer reads all sentences as one stream, so a line can depend on the next line's start)."""
    rng = random.Random(seed)
    out = [(c, sentence(rng, c)) for c in FRAGMENTS for _ in range(per_category)]
    rng.shuffle(out)
    return out
