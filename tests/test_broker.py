"""The filesystem broker (the embedded default) survives cut message files."""

from __future__ import annotations

from pathlib import Path

from kombu import Connection

import project.broker  # noqa: F401 - registers the safe `filesystem://` transport


def test_a_cut_message_file_is_skipped_and_the_next_message_delivered(tmp_path: Path) -> None:
    options = {
        "data_folder_in": str(tmp_path),
        "data_folder_out": str(tmp_path),
        "processed_folder": str(tmp_path),
        "store_processed": False,
        "control_folder": str(tmp_path / "control"),
    }
    with Connection("filesystem://", transport_options=options) as connection:
        assert type(connection.transport).__module__ == "project.broker"
        queue = connection.SimpleQueue("kicks")
        # What a publisher killed mid-write leaves (and sorts first).
        (tmp_path / "0_cut.kicks.msg").write_bytes(b'{"body": ')
        queue.put({"n": 1})
        assert not list(tmp_path.glob("*.part"))  # written aside, renamed into place
        assert queue.get(timeout=2).payload == {"n": 1}
        queue.close()
