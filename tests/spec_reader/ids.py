"""Ids and their text form: RFC 4648 base32hex, upper case, no padding (spec §2)."""

from .errors import InvalidInputError

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUV"
_VALUES = {c: i for i, c in enumerate(ALPHABET)}

OBJECT_ID_LEN = 12
NODE_ID_LEN = 8


def text_len(nbytes: int) -> int:
    return (nbytes * 8 + 4) // 5


def encode(raw: bytes) -> str:
    value = int.from_bytes(raw, "big")
    nchars = text_len(len(raw))
    value <<= nchars * 5 - len(raw) * 8  # unused trailing bits are zero
    return "".join(ALPHABET[(value >> (5 * (nchars - 1 - i))) & 31] for i in range(nchars))


def decode(text: str, nbytes: int) -> bytes:
    """Strict: exact length, upper-case alphabet only, zero unused trailing bits."""
    nchars = text_len(nbytes)
    if not isinstance(text, str) or len(text) != nchars:
        raise InvalidInputError(f"`{text}` is not an id of {nbytes} bytes")
    value = 0
    for c in text:
        digit = _VALUES.get(c)
        if digit is None:
            raise InvalidInputError(f"`{text}` is not base32hex (character {c!r})")
        value = (value << 5) | digit
    spare = nchars * 5 - nbytes * 8
    if value & ((1 << spare) - 1):
        raise InvalidInputError(f"`{text}` has non-zero unused trailing bits")
    return (value >> spare).to_bytes(nbytes, "big")


def object_id(text: str) -> bytes:
    return decode(text, OBJECT_ID_LEN)


def node_id(text: str) -> bytes:
    return decode(text, NODE_ID_LEN)
