"""Audio readers and dataset layouts: well-formed files, malformed ones, missing data."""

import numpy as np
import pytest
import soundfile as sf

from datasets import DataError, DataMissing
from datasets.audio import (FSDD_REL, load_fsdd, load_ljspeech, load_vctk, read_audio, resample, vctk_files)


def _wav(path, x, sr=8000, subtype="PCM_16"):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, sr, subtype=subtype)
    return path


def _tone(n=800, sr=8000, f=440.0):
    return (0.5 * np.sin(2 * np.pi * f * np.arange(n) / sr)).astype(np.float32)


def test_read_pcm_wav(tmp_path):
    x = _tone()
    y = read_audio(_wav(tmp_path / "a.wav", x), 8000)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.abs(y - x).max() < 1e-4


def test_non_pcm_wav_is_rejected(tmp_path):
    p = _wav(tmp_path / "f.wav", _tone(), subtype="FLOAT")
    with pytest.raises(DataError, match="not PCM"):
        read_audio(p, 8000)
    p = _wav(tmp_path / "u.wav", _tone(), subtype="ULAW")
    with pytest.raises(DataError, match="not PCM"):
        read_audio(p, 8000)


def test_truncated_wav_is_rejected(tmp_path):
    p = _wav(tmp_path / "t.wav", _tone(2000))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 1000])
    with pytest.raises(DataError, match="truncated"):
        read_audio(p, 8000)
    p.write_bytes(data[:30])
    with pytest.raises(DataError, match=str(p.name)):
        read_audio(p, 8000)
    (tmp_path / "junk.wav").write_bytes(b"hello world, not audio")
    with pytest.raises(DataError, match="RIFF"):
        read_audio(tmp_path / "junk.wav")


def test_sample_rate_mismatch_needs_resampling(tmp_path):
    p = _wav(tmp_path / "a.wav", _tone(1600, 16000), sr=16000)
    with pytest.raises(DataError, match="16000 Hz, expected 8000"):
        read_audio(p, 8000)
    y = read_audio(p, 8000, resample_to_sr=True)
    assert y.shape == (800,)
    assert np.abs(y[100:-100] - _tone(800, 8000)[100:-100]).max() < 0.01    # a 440 Hz tone survives


def test_resample_preserves_a_tone():
    x = _tone(22050, 22050)
    y = resample(x, 22050, 8000)
    assert y.shape == (8000,)
    ref = _tone(8000, 8000)
    assert np.abs(y[200:-200] - ref[200:-200]).max() < 0.01


def test_fsdd_layout(tmp_path):
    for name in ("0_george_0.wav", "3_theo_12.wav", "9_theo_1.wav"):
        _wav(tmp_path / FSDD_REL / name, _tone())
    utts = load_fsdd(tmp_path)
    assert [(u.label, u.speaker, u.index) for u in utts] == [("0", "george", 0), ("3", "theo", 12), ("9", "theo", 1)]
    assert [u.speaker for u in load_fsdd(tmp_path, speakers=("theo",), indices={1})] == ["theo"]
    with pytest.raises(ValueError, match="unknown FSDD speaker"):
        load_fsdd(tmp_path, speakers=("bob",))
    _wav(tmp_path / FSDD_REL / "3_bob_1.wav", _tone())
    with pytest.raises(DataError, match="unknown speaker 'bob'"):
        load_fsdd(tmp_path)


def test_fsdd_wrong_rate_and_bad_name(tmp_path):
    _wav(tmp_path / FSDD_REL / "0_george_0.wav", _tone(1600, 16000), sr=16000)
    with pytest.raises(DataError, match="0_george_0.wav: sample rate 16000"):
        load_fsdd(tmp_path)
    (tmp_path / FSDD_REL / "0_george_0.wav").unlink()
    _wav(tmp_path / FSDD_REL / "george-zero.wav", _tone())
    with pytest.raises(DataError, match="george-zero.wav: name does not follow"):
        load_fsdd(tmp_path)


def test_missing_data_names_the_layout(tmp_path):
    with pytest.raises(DataMissing, match=r"audio/fsdd/recordings/\{digit\}_\{speaker\}_\{index\}.wav"):
        load_fsdd(tmp_path)
    with pytest.raises(DataMissing, match="no data root"):
        load_fsdd(None)
    with pytest.raises(DataMissing, match="VCTK"):
        vctk_files(tmp_path)
    with pytest.raises(DataMissing, match="LJSpeech-1.1/metadata.csv"):
        load_ljspeech(tmp_path)


def test_vctk_and_ljspeech_layouts(tmp_path):
    for spk in ("p225", "p226"):
        for i in (1, 2):
            _wav(tmp_path / f"audio/VCTK-Corpus/wav48/{spk}/{spk}_00{i}.wav", _tone(4800, 48000), sr=48000)
    utts = load_vctk(tmp_path, sr=16000, per_speaker=1)
    assert [(u.speaker, u.audio.shape[0]) for u in utts] == [("p225", 1600), ("p226", 1600)]
    lj = tmp_path / "audio/LJSpeech-1.1"
    _wav(lj / "wavs/LJ001-0001.wav", _tone(2205, 22050), sr=22050)
    (lj / "metadata.csv").write_text("LJ001-0001|Printing, in the only sense|Printing, in the only sense\n")
    utts = load_ljspeech(tmp_path, sr=16000)
    assert len(utts) == 1 and utts[0].audio.shape == (1600,) and utts[0].label.startswith("Printing")
    (lj / "metadata.csv").write_text("LJ001-0002|missing file|missing file\n")
    with pytest.raises(DataError, match="LJ001-0002"):
        load_ljspeech(tmp_path)


def test_real_fsdd_and_librispeech_if_present():
    from datasets import data_root_from_env
    from datasets.audio import load_librispeech_clips
    root = data_root_from_env()
    if root is None or not (root / FSDD_REL).is_dir():
        pytest.skip("REPRO_DATA_ROOT with audio/fsdd not set")
    utts = load_fsdd(root, speakers=("jackson",), indices={0})
    assert len(utts) == 10 and all(u.sr == 8000 and u.audio.ndim == 1 for u in utts)
    clips = load_librispeech_clips(root, sr=8000)
    assert len(clips) == 3 and all(c.sr == 8000 and c.audio.size > 8000 * 10 for c in clips)
