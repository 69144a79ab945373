"""Speech audio: wav/ogg/flac reading with strict checks, resampling, mu-law companding, and
loaders for the Free Spoken Digit Dataset, LibriSpeech clips, VCTK and LJSpeech.

Layouts under the data root:

    audio/fsdd/recordings/{digit}_{speaker}_{index}.wav      8 kHz 16-bit PCM, 6 speakers
    audio/librosa-data/audio/{spk}-{chapter}-{utt}[.hq].ogg   LibriSpeech utterances (ogg vorbis)
    audio/VCTK-Corpus/wav48/p225/p225_001.wav                VCTK 0.80, or
    audio/VCTK-Corpus-0.92/wav48_silence_trimmed/p225/p225_001_mic1.flac
    audio/LJSpeech-1.1/metadata.csv + wavs/LJ001-0001.wav     LJSpeech 1.1 (22.05 kHz)

Every reader returns float32 mono audio in [-1, 1]. A file at another sample rate than asked
for is an error unless `resample=True`.
"""
from __future__ import annotations

import math
import re
import struct
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from . import DataError, DataMissing, locate, read_text

MU = 255  # 8-bit mu-law: 256 quantization levels


# ----------------------------------------------------------------------------- mu-law
def mu_law_encode(x, mu: int = MU) -> torch.Tensor:
    """Audio in [-1, 1] -> integer codes in [0, mu] (ITU-T G.711 companding, then uniform
    quantization of the companded value to mu + 1 levels)."""
    x = torch.as_tensor(x, dtype=torch.float64).clamp(-1.0, 1.0)
    y = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    return torch.round((y + 1) / 2 * mu).long()


def mu_law_decode(codes, mu: int = MU) -> torch.Tensor:
    """Integer codes in [0, mu] -> audio in [-1, 1] (float32)."""
    codes = torch.as_tensor(codes)
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) > mu):
        raise ValueError(f"mu-law codes must lie in [0, {mu}], got [{int(codes.min())}, {int(codes.max())}]")
    y = 2 * codes.double() / mu - 1
    return (torch.sign(y) * torch.expm1(y.abs() * math.log1p(mu)) / mu).float()


def mu_law_error_bound(mu: int = MU) -> float:
    """The largest |decode(encode(x)) - x| over x in [-1, 1]: half a quantization step of the
    companded value, mapped back through the expansion where it is steepest (|x| = 1)."""
    return float((1 + mu) / mu * (1 - (1 + mu) ** (-1 / mu)))


# ----------------------------------------------------------------------------- reading
def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling (scipy.signal.resample_poly, Kaiser-windowed anti-aliasing filter)."""
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float32)
    from scipy.signal import resample_poly
    r = Fraction(sr_out, sr_in)
    return resample_poly(np.asarray(x, dtype=np.float64), r.numerator, r.denominator).astype(np.float32)


def _check_wav_header(path: Path):
    """Walk the RIFF chunks of a wav: PCM format and a data chunk as long as it says it is."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise DataError(f"{path}: not a RIFF/WAVE file")
        riff = struct.unpack("<I", head[4:8])[0]
        if riff + 8 > size + 1:          # (+1: a writer that left out the final pad byte)
            raise DataError(f"{path}: truncated wav: the RIFF header declares {riff + 8} bytes, the file holds {size}")
        fmt = None
        while True:
            ch = f.read(8)
            if len(ch) < 8:
                raise DataError(f"{path}: truncated wav (no 'data' chunk; file is {size} bytes)")
            cid, n = ch[:4], struct.unpack("<I", ch[4:])[0]
            if cid == b"fmt ":
                body = f.read(n)
                if len(body) < 16:
                    raise DataError(f"{path}: truncated 'fmt ' chunk")
                tag = struct.unpack("<H", body[:2])[0]
                if tag == 0xFFFE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the sub-format GUID
                    tag = struct.unpack("<H", body[24:26])[0]
                fmt = tag
                if n % 2:
                    f.read(1)
            elif cid == b"data":
                if fmt is None:
                    raise DataError(f"{path}: 'data' chunk before 'fmt ' chunk")
                if fmt != 1:
                    raise DataError(f"{path}: not PCM audio (wav format tag {fmt}; expected 1 = integer PCM)")
                have = size - f.tell()
                if n > have:
                    raise DataError(f"{path}: truncated wav: the header declares {n} bytes of audio, "
                                    f"the file holds {have}")
                return
            else:
                f.seek(n + (n % 2), 1)


_BITREV = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def _ogg_crc(page: bytes) -> int:
    """Ogg's page checksum: CRC-32 with polynomial 0x04C11DB7, not reflected, init 0, no final xor.
    zlib's CRC-32 is the reflected form of the same polynomial: run it on bit-reversed bytes with
    register 0, and bit-reverse the result."""
    r = zlib.crc32(page.translate(_BITREV), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{r:032b}"[::-1], 2)


def _check_ogg(path: Path):
    """Walk the Ogg pages: capture pattern, version, complete segments, the CRC of every page, and
    an end-of-stream page at the very end (libsndfile silently decodes a truncated file's head)."""
    data = path.read_bytes()
    pos, eos, n = 0, False, 0
    while pos < len(data):
        head = data[pos:pos + 27]
        if len(head) < 27 or head[:4] != b"OggS":
            raise DataError(f"{path}: {'truncated' if len(head) < 27 else 'corrupt'} Ogg stream "
                            f"(no complete page header at byte {pos})")
        if head[4] != 0:
            raise DataError(f"{path}: Ogg page {n} has stream structure version {head[4]}, expected 0")
        nseg = head[26]
        table = data[pos + 27:pos + 27 + nseg]
        end = pos + 27 + nseg + sum(table)
        if len(table) < nseg or end > len(data):
            raise DataError(f"{path}: truncated Ogg stream (page {n} at byte {pos} runs past the end of "
                            f"the {len(data)}-byte file)")
        page = bytearray(data[pos:end])
        want = struct.unpack("<I", bytes(page[22:26]))[0]
        page[22:26] = b"\0\0\0\0"
        if _ogg_crc(bytes(page)) != want:
            raise DataError(f"{path}: Ogg page {n} at byte {pos} fails its CRC check (corrupt data)")
        eos = bool(head[5] & 0x04)
        pos, n = end, n + 1
    if n == 0:
        raise DataError(f"{path}: empty file (no Ogg pages)")
    if not eos:
        raise DataError(f"{path}: truncated Ogg stream (the last of its {n} pages is not an end-of-stream page)")


def read_audio(path: str | Path, sr: int | None = None, *, resample_to_sr: bool = False) -> np.ndarray:
    """Mono float32 audio from a wav (integer PCM only), ogg or flac file.

    `sr`: the sample rate the caller expects; a file at another rate raises DataError unless
    `resample_to_sr=True`, in which case it is resampled. Multi-channel audio is averaged."""
    import soundfile as sf
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such audio file")
    if path.suffix.lower() == ".wav":
        _check_wav_header(path)
    elif path.suffix.lower() in (".ogg", ".oga"):
        _check_ogg(path)
    try:
        info = sf.info(str(path))
        x, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError, ValueError, EOFError) as e:
        raise DataError(f"{path}: unreadable audio ({e})") from None
    if path.suffix.lower() == ".flac" and info.frames > 0 and len(x) != info.frames:
        raise DataError(f"{path}: truncated FLAC: its header declares {info.frames} samples, "
                        f"{len(x)} could be decoded")
    x = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
    if x.size == 0:
        raise DataError(f"{path}: no audio samples")
    if not np.isfinite(x).all():
        raise DataError(f"{path}: audio holds NaN or infinite samples")
    if sr is not None and file_sr != sr:
        if not resample_to_sr:
            raise DataError(f"{path}: sample rate {file_sr} Hz, expected {sr} Hz "
                            f"(pass resample_to_sr=True to resample)")
        x = resample(x, file_sr, sr)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


@dataclass
class Utterance:
    audio: np.ndarray      # float32 mono in [-1, 1]
    sr: int
    speaker: str
    path: Path
    label: str = ""        # FSDD: the digit; LJSpeech/LibriSpeech: the transcript
    index: int = 0         # FSDD: the take number (0..49)


# ----------------------------------------------------------------------------- FSDD
FSDD_REL = "audio/fsdd/recordings"
FSDD_LAYOUT = "audio/fsdd/recordings/{digit}_{speaker}_{index}.wav (8 kHz mono 16-bit PCM; the Free Spoken Digit Dataset)"
FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
_FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


def load_fsdd(root, *, sr: int = 8000, speakers=FSDD_SPEAKERS, indices=None, resample_to_sr: bool = False) -> list[Utterance]:
    """FSDD recordings of the named speakers (optionally only takes in `indices`), sorted by name."""
    folder = locate(root, FSDD_REL, FSDD_LAYOUT)
    files = sorted(folder.glob("*.wav"))
    if not files:
        raise DataMissing(f"{folder} holds no wav files; expected {FSDD_LAYOUT}")
    wanted = set(speakers)
    unknown = wanted - set(FSDD_SPEAKERS)
    if unknown:
        raise ValueError(f"unknown FSDD speaker(s) {sorted(unknown)}; FSDD has {FSDD_SPEAKERS}")
    out = []
    for f in files:
        m = _FSDD_NAME.match(f.name)
        if m is None:
            raise DataError(f"{f}: name does not follow {{digit}}_{{speaker}}_{{index}}.wav")
        digit, spk, idx = m.group(1), m.group(2), int(m.group(3))
        if spk not in FSDD_SPEAKERS:
            raise DataError(f"{f}: unknown speaker '{spk}' (FSDD has {', '.join(FSDD_SPEAKERS)})")
        if spk not in wanted or (indices is not None and idx not in indices):
            continue
        out.append(Utterance(read_audio(f, sr, resample_to_sr=resample_to_sr), sr, spk, f, digit, idx))
    return out


# ----------------------------------------------------------------------------- LibriSpeech clips
LIBRI_REL = "audio/librosa-data/audio"
LIBRI_LAYOUT = "audio/librosa-data/audio/{speaker}-{chapter}-{utt}.hq.ogg (+ .txt transcript; LibriSpeech utterances)"


def load_librispeech_clips(root, *, sr: int = 16000) -> list[Utterance]:
    """The LibriSpeech utterances shipped with librosa's example data (16 kHz .hq.ogg), resampled to `sr`."""
    folder = locate(root, LIBRI_REL, LIBRI_LAYOUT)
    files = sorted(folder.glob("*.hq.ogg"))
    if not files:
        raise DataMissing(f"{folder} holds no *.hq.ogg files; expected {LIBRI_LAYOUT}")
    out = []
    for f in files:
        uid = f.name[: -len(".hq.ogg")]
        if not re.fullmatch(r"\d+-\d+-\d+", uid):
            raise DataError(f"{f}: name is not a LibriSpeech utterance id speaker-chapter-utt")
        txt = f.with_name(uid + ".txt")
        out.append(Utterance(read_audio(f, sr, resample_to_sr=True), sr, uid.split("-")[0], f,
                             read_text(txt).strip() if txt.exists() else ""))
    return out


# ----------------------------------------------------------------------------- VCTK (full tier)
VCTK_LAYOUT = ("audio/VCTK-Corpus/wav48/p225/p225_001.wav (VCTK 0.80) or "
               "audio/VCTK-Corpus-0.92/wav48_silence_trimmed/p225/p225_001_mic1.flac (VCTK 0.92)")


def vctk_files(root) -> dict[str, list[Path]]:
    """{speaker: sorted audio files} for VCTK 0.92 (mic1 flac) or 0.80 (wav48)."""
    for rel, pattern in (("audio/VCTK-Corpus-0.92/wav48_silence_trimmed", "*_mic1.flac"),  # noqa: B007 (used after break)
                         ("audio/VCTK-Corpus/wav48", "*.wav")):
        if root is not None and (Path(root) / rel).is_dir():
            folder = Path(root) / rel
            break
    else:
        locate(root, "audio/VCTK-Corpus-0.92", VCTK_LAYOUT)  # raises DataMissing with the layout
        raise DataMissing(f"no VCTK audio folder under {root}; expected {VCTK_LAYOUT}")
    out = {d.name: sorted(d.glob(pattern)) for d in sorted(folder.iterdir()) if d.is_dir()}
    out = {k: v for k, v in out.items() if v}
    if not out:
        raise DataMissing(f"{folder} holds no speaker folders with audio; expected {VCTK_LAYOUT}")
    return out


def load_vctk(root, *, sr: int = 16000, per_speaker: int | None = None) -> list[Utterance]:
    out = []
    for spk, files in vctk_files(root).items():
        for f in files[:per_speaker]:
            out.append(Utterance(read_audio(f, sr, resample_to_sr=True), sr, spk, f))
    return out


# ----------------------------------------------------------------------------- LJSpeech (full tier)
LJ_REL = "audio/LJSpeech-1.1"
LJ_LAYOUT = "audio/LJSpeech-1.1/metadata.csv (id|text|normalized text) and audio/LJSpeech-1.1/wavs/LJ001-0001.wav (22.05 kHz)"


def load_ljspeech(root, *, sr: int = 16000, limit: int | None = None) -> list[Utterance]:
    folder = locate(root, LJ_REL, LJ_LAYOUT)
    meta = folder / "metadata.csv"
    if not meta.is_file():
        raise DataMissing(f"missing {meta}; expected {LJ_LAYOUT}")
    out = []
    for n, line in enumerate(read_text(meta).splitlines()):
        if limit is not None and len(out) >= limit:
            break
        parts = line.split("|")
        if len(parts) < 2:
            raise DataError(f"{meta}: line {n + 1} is not id|text|normalized text")
        f = folder / "wavs" / f"{parts[0]}.wav"
        if not f.is_file():
            raise DataError(f"{meta}: line {n + 1} names {parts[0]}, but {f} does not exist")
        out.append(Utterance(read_audio(f, sr, resample_to_sr=True), sr, "LJ", f, parts[-1]))
    return out
