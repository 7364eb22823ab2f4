"""CRC-32C (Castagnoli), and the combination of two CRCs (spec §4, §6.4)."""

import crc32c as _crc32c

# Reflected polynomial.
POLY = 0x82F63B78


def crc32c(data: bytes) -> int:
    return _crc32c.crc32c(data)


def _mult_mod_p(a: int, b: int) -> int:
    """a * b modulo the CRC polynomial, both in the reflected bit order (x^0 is bit 31)."""
    m = 1 << 31
    p = 0
    while True:
        if a & m:
            p ^= b
            if a & (m - 1) == 0:
                return p
        m >>= 1
        b = (b >> 1) ^ POLY if b & 1 else b >> 1


def _x_pow_8n(n: int) -> int:
    """x^(8n) modulo the polynomial, by squaring."""
    result = 1 << 31  # x^0
    square = 1 << 27  # x^4, squared once before use: x^8 per byte
    square = _mult_mod_p(square, square)
    while n:
        if n & 1:
            result = _mult_mod_p(square, result)
        square = _mult_mod_p(square, square)
        n >>= 1
    return result


def shift(crc: int, length: int) -> int:
    """`shift(crc(A), len(B))`: the part of crc(A || B) that A contributes."""
    return _mult_mod_p(_x_pow_8n(length), crc)


def combine(crc_a: int, crc_b: int, len_b: int) -> int:
    """crc(A || B) from crc(A), crc(B) and len(B)."""
    return shift(crc_a, len_b) ^ crc_b
