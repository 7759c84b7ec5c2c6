"""Minimal, valid PDF 1.4 files for the simulator's vouchers (local-only tooling).

`make_pdf` writes one page showing a title, with a correct cross-reference table. Asked for an
exact size, it adds an unreferenced stream object of filler before the table (and, for the last
byte or two that a stream cannot absorb, blanks inside the trailer dictionary), so the file stays
valid whatever its size.
"""

from __future__ import annotations

__all__ = ["make_pdf", "minimal_pdf_size"]

_HEADER = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
_EOF = b"%%EOF\n"
_MAX_TITLE = 120
# Below this many extra bytes the padding goes into the trailer dictionary as blanks; from here
# on a filler stream object (which costs about 45 bytes by itself) takes it.
_STREAM_PADDING_FROM = 128
_PADDING_TAIL = b"\nendstream\nendobj\n"


def _pdf_string(text: str) -> bytes:
    """`text` as the body of a PDF literal string: printable ASCII only, with \\ ( ) escaped."""
    printable = "".join(char if 32 <= ord(char) < 127 else "?" for char in text[:_MAX_TITLE])
    escaped = printable.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return escaped.encode("ascii")


def _objects(title: str) -> list[bytes]:
    content = (
        b"BT /F1 20 Tf 56 770 Td (" + _pdf_string(title) + b") Tj ET\n"
        b"BT /F1 11 Tf 56 740 Td (Simulated Tiqets voucher - not valid for entry) Tj ET"
    )
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]"
        b" /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
    ]


def _body(title: str) -> tuple[bytes, list[int]]:
    """The header and the page's objects, and each object's byte offset."""
    parts = [_HEADER]
    offsets: list[int] = []
    position = len(_HEADER)
    for number, obj in enumerate(_objects(title), start=1):
        chunk = str(number).encode() + b" 0 obj\n" + obj + b"\nendobj\n"
        offsets.append(position)
        parts.append(chunk)
        position += len(chunk)
    return b"".join(parts), offsets


def _xref(offsets: list[int]) -> bytes:
    lines = [b"xref\n", b"0 " + str(len(offsets) + 1).encode() + b"\n", b"0000000000 65535 f \n"]
    lines.extend(b"%010d 00000 n \n" % offset for offset in offsets)
    return b"".join(lines)


def _trailer(object_count: int, xref_offset: int, blanks: int) -> bytes:
    return (
        b"trailer\n<< /Size "
        + str(object_count + 1).encode()
        + b" /Root 1 0 R"
        + b" " * blanks
        + b" >>\nstartxref\n"
        + str(xref_offset).encode()
        + b"\n"
        + _EOF
    )


def _padding_head(object_number: int, length: int) -> bytes:
    return (
        str(object_number).encode()
        + b" 0 obj\n<< /Length "
        + str(length).encode()
        + b" >>\nstream\n"
    )


def minimal_pdf_size(title: str) -> int:
    """The size of `make_pdf(title)`: the smallest `size` it accepts for that title."""
    body, offsets = _body(title)
    return len(body) + len(_xref(offsets)) + len(_trailer(len(offsets), len(body), 0))


def make_pdf(title: str, *, size: int | None = None) -> bytes:
    """A one-page PDF 1.4 showing `title` (non-ASCII characters show as '?'), `size` bytes long
    when given (ValueError if that is below the minimal size for the title)."""
    body, offsets = _body(title)
    minimal = len(body) + len(_xref(offsets)) + len(_trailer(len(offsets), len(body), 0))
    if size is None or size == minimal:
        return body + _xref(offsets) + _trailer(len(offsets), len(body), 0)
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError("size must be an int")
    if size < minimal:
        raise ValueError(f"size must be at least {minimal} bytes for this title, not {size}")
    if size - minimal < _STREAM_PADDING_FROM:
        return body + _xref(offsets) + _trailer(len(offsets), len(body), size - minimal)

    padded_offsets = [*offsets, len(body)]
    xref = _xref(padded_offsets)
    number = len(padded_offsets)

    def total(length: int) -> int:
        xref_offset = len(body) + len(_padding_head(number, length)) + length + len(_PADDING_TAIL)
        return xref_offset + len(xref) + len(_trailer(number, xref_offset, 0))

    # total() grows by at least one per byte of filler, by more where a number gains a digit:
    # start from an over-estimate, step down to the longest filler that fits, and put the
    # remaining byte or two into the trailer.
    length = size - total(0)
    while total(length) > size:
        length -= 1
    head = _padding_head(number, length)
    xref_offset = len(body) + len(head) + length + len(_PADDING_TAIL)
    trailer = _trailer(number, xref_offset, size - total(length))
    # One allocation of the filler and one of the result: fine for vouchers up to ~100 MB.
    return b"".join((body, head, bytes(length), _PADDING_TAIL, xref, trailer))
