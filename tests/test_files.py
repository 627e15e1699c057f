"""The one atomic writer (srcnn.files) and the one error line (srcnn.errors): what a user sees on disk and stderr."""

from __future__ import annotations

import os
import stat

import pytest

from srcnn.batch import plan_outputs
from srcnn.errors import fail
from srcnn.files import atomic_open, atomic_write, is_temp_name, list_images, remove_stale_temps, write_text
from srcnn.images import INPUT_EXTENSIONS
from srcnn.prepare import find_photos


def test_a_write_that_fails_leaves_the_old_file_whole_and_no_temp_file(tmp_path):
    target = tmp_path / "report.md"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as f:
        f.write(b"half of the new")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["report.md"]
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, lambda tmp: (open(tmp, "w").write("x"), (_ for _ in ()).throw(KeyboardInterrupt)))
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["report.md"]


def test_a_replaced_file_keeps_its_mode_and_the_folder_is_made(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    target.chmod(0o640)
    write_text(target, "new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o640
    write_text(tmp_path / "a" / "b" / "c.txt", "deep")
    assert (tmp_path / "a" / "b" / "c.txt").read_text() == "deep"


def test_stale_temps_of_the_named_files_only_are_removed(tmp_path):
    names = [".last.pt.tmp-0a1b2c3d4e5f", ".log.csv.tmp-00112233aabb", ".photo.png.tmp-ffeeddccbbaa"]
    for n in [*names, "last.pt", ".hidden", ".x.tmp-short"]:
        (tmp_path / n).write_bytes(b"x")
    assert all(is_temp_name(n) for n in names) and not is_temp_name(".x.tmp-short")
    assert remove_stale_temps(tmp_path, ["last.pt", "log.csv"]) == 2
    assert sorted(os.listdir(tmp_path)) == sorted([".photo.png.tmp-ffeeddccbbaa", "last.pt", ".hidden",
                                                  ".x.tmp-short"])
    assert remove_stale_temps(tmp_path) == 1 and ".photo.png.tmp-ffeeddccbbaa" not in os.listdir(tmp_path)


def test_an_error_is_one_line_with_the_exit_code(capsys):
    assert fail("cannot read a.png\n  (truncated)", code=1) == 1
    assert capsys.readouterr().err == "srcnn: error: cannot read a.png (truncated)\n"


def test_one_listing_of_images_for_training_prepare_and_folder_runs(tmp_path):
    """No hidden file or folder, no file of the run's own output folder, any readable suffix in any case."""
    for rel in ["a.png", "sub/d.JPG", "sub/z.gif", ".hidden/b.png", "sub/.c.png", "out/e.png", "note.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    want = [tmp_path / "a.png", tmp_path / "out/e.png", tmp_path / "sub/d.JPG", tmp_path / "sub/z.gif"]
    assert list_images([tmp_path], INPUT_EXTENSIONS) == want
    kept = [w for w in want if "out" not in w.parts]
    assert list_images([tmp_path], INPUT_EXTENSIONS, exclude=tmp_path / "out") == kept
    assert list_images([tmp_path], INPUT_EXTENSIONS, exclude=tmp_path) == want  # the folder itself is not excluded
    assert list_images([tmp_path], INPUT_EXTENSIONS, recursive=False) == [tmp_path / "a.png"]
    assert find_photos(tmp_path, exclude=tmp_path / "out") == kept
    plan = plan_outputs([str(tmp_path)], str(tmp_path / "out"), True, "auto", "_srcnn", None)
    assert [i for i, _ in plan.pairs] == kept
