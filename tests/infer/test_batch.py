"""Planning a batch conversion: where each input's output goes."""

from __future__ import annotations

from timbrel.infer.batch import plan_jobs


def test_inputs_sharing_a_stem_each_get_their_own_output(tmp_path):
    songs = tmp_path / "songs"
    (songs / "sub").mkdir(parents=True)
    for name in ("x.wav", "x.flac", "y.mp3", "sub/x.wav"):
        (songs / name).write_bytes(b"")
    jobs = plan_jobs([songs], tmp_path / "out")
    targets = {
        job.source.relative_to(songs).as_posix(): job.target.relative_to(tmp_path / "out").as_posix()
        for job in jobs
    }
    assert targets == {
        "x.wav": "x_wav.wav",
        "x.flac": "x_flac.wav",
        "y.mp3": "y.wav",
        "sub/x.wav": "sub/x.wav",
    }
