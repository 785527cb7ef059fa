"""An episode's title: what a season export calls it (file names, RTTM uris, placeholders).

A project is titled by its file name when it is made; `sgtui info EP --set-title TITLE`
changes it as one logged action (op kind `title`, not among add/remove/merge). Its payload
keeps the title before and after under the key ``title``, which the undo machinery in
`actions.py` restores through `restore.restore_title` and checks with `restore.title_matches`, as it does
for flags. The first retitling keeps the title the file was made with as ``first_title``:
a bank knows an episode by that title and the creation time (`identity_title`), so a
retitled episode added again replaces its own contribution.
"""

from __future__ import annotations

from sgtui.errors import SgtuiError
from sgtui.project.actions import ActionsMixin
from sgtui.project.restore import title_value

MAX_TITLE = 200


def identity_title(meta: dict[str, str], fallback: str) -> str:
    """The title an episode is known by across retitling: the one it was made with."""
    return meta.get("first_title") or meta.get("title") or fallback


def check_title(title: str) -> str:
    """A usable title: one line of text, not empty, not too long."""
    t = " ".join(title.split())
    if not t:
        raise SgtuiError("the title is empty; give the episode's name, e.g. --set-title 'EP01'")
    if len(t) > MAX_TITLE:
        raise SgtuiError(f"the title is {len(t)} characters long; give at most {MAX_TITLE}")
    return t


class TitleMixin(ActionsMixin):
    """Retitling a Project."""


    def set_title(self, title: str, annotator: str) -> int | None:
        """Set the episode's title as ONE logged action of `annotator`; None when unchanged."""
        title = check_title(title)
        with self._action(annotator) as rec:
            before = title_value(rec.conn)
            if before == title:
                return None
            if before is not None:  # the identity a bank knows it by, kept once
                rec.conn.execute("INSERT OR IGNORE INTO meta(key, value) "
                                 "VALUES ('first_title', ?)", (before,))
            rec.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('title', ?)",
                             (title,))
            rec.extra["title"] = [before, title]
            rec.log("title")
        return self.last_action_id
