"""The console's last line of defence against terminal escapes in rendered text.

Text from servers and the account file passes `console.core.safe_text.visible()` where it enters
a widget, which shows control characters as visible escapes. This line filter runs on every line
Textual renders and removes any control, bidi or invisible character still in a segment's text,
so a path that forgot `visible()` can show less than it should but never write `ESC`, a C1
control or a bidi override to the user's terminal. Textual's own escape sequences are generated
after the filters and are not touched. The characters removed are zero cells wide, so the line's
layout is unchanged. Hooked in through `App.get_line_filters` (public Textual API).
"""

from __future__ import annotations

from rich.segment import Segment
from textual.color import Color
from textual.filter import LineFilter

from console.core.safe_text import CONTROL_OR_INVISIBLE


class ControlFilter(LineFilter):
    """Drop control and invisible characters from the text of every segment."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        search = CONTROL_OR_INVISIBLE.search
        if not any(search(segment.text) for segment in segments if not segment.control):
            return segments
        strip = CONTROL_OR_INVISIBLE.sub
        return [
            segment
            if segment.control
            else Segment(strip("", segment.text), segment.style, segment.control)
            for segment in segments
        ]
