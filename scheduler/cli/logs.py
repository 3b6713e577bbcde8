"""`gpusched logs --follow`: turn repeated reads of a growing log into just the new bytes."""

from __future__ import annotations

ANCHOR_BYTES = 65536
KEY_BYTES = 64


class LogCursor:
    """Where a follower is in a log that the server sends whole, or as a tail window.

    The log route answers every read with the log's last `tail_bytes`: the whole log while it is
    short, a window ending at the log's end once it is longer. The last bytes printed are kept
    as an anchor so a window is joined where it overlaps; a log that no longer starts with what
    was printed (a new attempt's log, say) is printed from its start, reported as a gap.
    """

    def __init__(self) -> None:
        self.offset = 0
        """Bytes of the log handed out so far."""
        self._anchor = b""

    def advance(self, *, content: bytes) -> tuple[bytes, bool]:
        """The bytes not handed out yet, and whether some were lost between two reads."""
        gap = False
        if self._continues(content):
            chunk = content[self.offset :]
        else:
            # A window ending at the log's end (the log outgrew what the server sends).
            joined = self._join(content)
            chunk, gap = (content, bool(self._anchor)) if joined is None else (joined, False)
        self.offset += len(chunk)
        self._anchor = (self._anchor + chunk)[-ANCHOR_BYTES:]
        return chunk, gap

    def _continues(self, content: bytes) -> bool:
        # The whole log again: it starts with what was handed out (checked on the anchor).
        start = self.offset - len(self._anchor)
        return len(content) >= self.offset and content[start : self.offset] == self._anchor

    def _join(self, content: bytes) -> bytes | None:
        """What follows the last printed byte in `content`, or None when they do not overlap.

        The window may start anywhere in what was printed: look for the last few printed bytes,
        and accept a place only where everything before it agrees with the anchor too. With
        identical repeated lines the latest agreeing place wins (nothing is printed twice).
        """
        if not self._anchor:
            return None
        key = self._anchor[-KEY_BYTES:]
        at = content.rfind(key)
        while at >= 0:
            end = at + len(key)
            overlap = min(end, len(self._anchor))
            if content[end - overlap : end] == self._anchor[-overlap:]:
                return content[end:]
            at = content.rfind(key, 0, end - 1)
        # Fewer bytes overlap than the key holds (a window smaller than the key, say).
        for end in range(min(len(key) - 1, len(content)), 0, -1):
            if content[:end] == self._anchor[-end:]:
                return content[end:]
        return None
