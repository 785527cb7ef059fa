"""Line flags: an annotator marks a line as overlapped speech, noise/music, not speech or a
wrong subtitle, so voice datasets can leave it out.

Flagging is one logged action (op kind `flag`, counted apart from add/remove/merge). Its
payload keeps each touched line's flags before and after, under the key ``flags``, which the
undo machinery in `actions.py` restores through `restore.restore_flags` and checks with
`restore.flags_match` (refusing when someone changed those flags since).
"""

from __future__ import annotations

from collections.abc import Sequence

from sgtui.errors import SgtuiError
from sgtui.project.actions import ActionsMixin
from sgtui.project.restore import flag_state

# The four flags, in the order the app offers them, with the words shown to people.
FLAGS = ("overlap", "noise", "not_speech", "wrong_subtitle")
FLAG_LABELS = {
    "overlap": "overlapping speech",
    "noise": "noise / music",
    "not_speech": "not speech",
    "wrong_subtitle": "wrong subtitle",
}


def check_flag(flag: str) -> str:
    if flag not in FLAGS:
        raise SgtuiError(f"unknown flag {flag!r}; use one of {', '.join(FLAGS)}")
    return flag


class FlagsMixin(ActionsMixin):
    """Flag actions and reads on a Project."""


    def flag(self, line_ids: Sequence[int], flag: str, annotator: str,
             value: bool | None = None) -> int | None:
        """Set (True), clear (False) or toggle (None) one flag on lines, as ONE action.

        Toggling several lines follows the first: if it lacks the flag, all get it; else
        all lose it. Returns the action id, or None when nothing changed.
        """
        check_flag(flag)
        if not line_ids:
            return None
        with self._action(annotator) as rec:
            before = {}
            for lid in line_ids:
                self._require_line(lid)
                before[lid] = flag_state(rec.conn, lid)
            if value is None:
                value = flag not in before[line_ids[0]]
            changes = {}
            for lid, old in before.items():
                new = sorted(set(old) | {flag}) if value else [f for f in old if f != flag]
                if new == old:
                    continue
                if value:
                    rec.conn.execute("INSERT INTO line_flags(line_id, flag) VALUES (?, ?)", (lid, flag))
                else:
                    rec.conn.execute("DELETE FROM line_flags WHERE line_id=? AND flag=?", (lid, flag))
                changes[str(lid)] = [old, new]
                rec.log("flag", lid)
            if changes:
                rec.extra["flags"] = changes
                rec.extra["flag"] = flag
                rec.extra["set"] = value
        return self.last_action_id

    def line_flags(self) -> dict[int, list[str]]:
        """line id -> its flags (sorted); lines without flags are absent."""
        out: dict[int, list[str]] = {}
        for lid, f in self.conn.execute("SELECT line_id, flag FROM line_flags ORDER BY line_id, flag"):
            out.setdefault(lid, []).append(f)
        return out

    def flags_of(self, line_id: int) -> list[str]:
        """One line's flags (sorted), e.g. for the app's line details."""
        return flag_state(self.conn, line_id)

    def flag_counts(self) -> dict[str, int]:
        """How many lines carry each flag (every flag listed, zero when unused)."""
        counts = dict.fromkeys(FLAGS, 0)
        for f, n in self.conn.execute("SELECT flag, COUNT(*) FROM line_flags GROUP BY flag"):
            counts[f] = n
        return counts
