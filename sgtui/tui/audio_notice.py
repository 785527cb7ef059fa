"""The one notice that tells an SSH user how to hear the lines: tunnel, URL, one click.

A modal that stays until dismissed (a toast would vanish before the user has copied the URL).
The URL is an OSC 8 hyperlink, which terminals that support it make clickable."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


def notice_text(url: str, ssh_line: str, port_message: str = "", remote: bool = True) -> Text:
    """The notice's words; the URL and the ssh line each on a line of their own to copy.

    Without SSH (no sound device here) the tunnel step is left out."""
    out = Text()
    out.append("Hear the lines in your browser\n\n", style="bold")
    if port_message:
        out.append(port_message + "\n\n", style="yellow")
    if remote:
        out.append("1. On your own machine, open the tunnel:\n")
        out.append(ssh_line + "\n", style="bold cyan")
        out.append("2. Open this page there (Ctrl+click if your terminal shows it as a link):\n")
    else:
        out.append("1. No sound device here. (Over SSH you would first run: ")
        out.append(ssh_line, style="cyan")
        out.append(")\n2. Open this page in a browser (Ctrl+click if it shows as a link):\n")
    out.append(url, style=Style(bold=True, color="cyan", link=url))
    out.append("\n")
    out.append("3. Click “Enable sound” once; p, P and b then play in the page, s stops it.\n\n")
    out.append("The status bar shows whether the page is connected. ctrl+p → “Sound page” shows "
               "this again. Enter or Esc closes it.", style="dim")
    return out


class AudioPageNotice(ModalScreen[None]):
    DEFAULT_CSS = """
    AudioPageNotice { align: center middle; }
    AudioPageNotice > Vertical {
        width: 100%; max-width: 110; height: auto; border: round $accent; background: $surface;
        padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,enter,q", "dismiss", "close", id="notice_close")]

    def __init__(self, url: str, ssh_line: str, port_message: str = "", remote: bool = True) -> None:
        super().__init__()
        self.text = notice_text(url, ssh_line, port_message, remote)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.text, id="audio-notice")
