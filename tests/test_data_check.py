"""`python -m datasets check` (./repro data)."""
def test_data_check_lists_present_and_missing(tmp_path, capsys):
    from datasets.__main__ import main
    (tmp_path / "mnist").mkdir()
    assert main(["check", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ok       mnist" in out and "missing  camvid/CamVid" in out and "expected: camvid/CamVid/" in out
    assert main(["check", "--data-root", ""]) == 2
