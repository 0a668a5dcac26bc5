//! RSA signature verification without a heap: RSASSA-PKCS1-v1_5 with
//! SHA-256 (`sha256WithRSAEncryption`, RFC 8017 §8.2.2), for the
//! issuer's signature on a new certificate when the CA's intermediate is an
//! RSA key (Pebble's, and Let's Encrypt's RSA chain).
//!
//! The `rsa` crate needs an allocator; verification is one modular
//! exponentiation by a small public exponent and a comparison, done here
//! on `crypto-bigint`'s 2,048-bit integers (already linked through
//! `p256`) with its Montgomery reduction, square and multiply, and no
//! precomputed table: a few 256-byte numbers of stack. Moduli of 1,024 to
//! 2,048 bits (what CAs' issuing intermediates use) and public exponents
//! below 2^32 are taken. Only public data is handled, so nothing here
//! needs to run in constant time.

use crypto_bigint::modular::montgomery_reduction;
use crypto_bigint::{Encoding as _, Limb, Word, U2048};
use der::asn1::UintRef;
use der::{Decode as _, Reader as _};

/// The largest modulus, in bytes (2,048 bits).
const MAX_MODULUS_LEN: usize = 256;
/// The smallest modulus accepted, in bytes (1,024 bits).
const MIN_MODULUS_LEN: usize = 128;

/// The DER `DigestInfo` of a SHA-256 digest, up to the digest itself
/// (RFC 8017 §9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// Whether `signature` is a valid RSASSA-PKCS1-v1_5 SHA-256 signature, by
/// `public_key` (the DER `RSAPublicKey` of an SPKI's BIT STRING), of the
/// message whose SHA-256 digest is `digest`. `None` when the key is not one
/// this can use (malformed, an even modulus, outside 1,024–2,048 bits, an
/// exponent of 2^32 or more).
pub(crate) fn verify_pkcs1_sha256(
    public_key: &[u8],
    digest: &[u8],
    signature: &[u8],
) -> Option<bool> {
    let (modulus, exponent) = parse_public_key(public_key)?;
    let k = modulus.len();
    if !(MIN_MODULUS_LEN..=MAX_MODULUS_LEN).contains(&k) || modulus.last()? & 1 == 0 {
        return None;
    }
    if signature.len() != k || exponent == 0 {
        return Some(false);
    }
    let n = widen(modulus)?;
    let s = widen(signature)?;
    if s >= n {
        return Some(false);
    }
    let m = Montgomery::new(n).power(&s, exponent);
    let encoded = m.to_be_bytes();
    let em = encoded.get(MAX_MODULUS_LEN - k..)?;
    Some(matches_encoding(em, digest))
}

/// Arithmetic modulo an odd `n` in Montgomery form, R = 2^2048.
struct Montgomery {
    n: U2048,
    /// −n⁻¹ mod 2^(bits of a limb).
    n_neg_inv: Limb,
    /// R² mod n: takes a number into Montgomery form.
    r2: U2048,
}

impl Montgomery {
    fn new(n: U2048) -> Self {
        // n⁻¹ modulo the limb's width by Newton's iteration: an odd n is
        // its own inverse modulo 8, and each step doubles the bits.
        let n0: Word = n.as_words().first().copied().unwrap_or(1);
        let mut inverse: Word = n0;
        for _ in 0..6 {
            inverse = inverse.wrapping_mul((2 as Word).wrapping_sub(n0.wrapping_mul(inverse)));
        }
        let mut this = Self {
            n,
            n_neg_inv: Limb(inverse.wrapping_neg()),
            r2: U2048::ZERO,
        };
        // R·2^64 mod n by doubling 1 (which is below n); then each
        // Montgomery squaring of R·2^t gives R·2^2t: five take it to
        // R·2^2048 = R².
        let mut r2 = U2048::ONE;
        for _ in 0..U2048::BITS + 64 {
            r2 = r2.add_mod(&r2, &n);
        }
        for _ in 0..5 {
            r2 = this.multiply(&r2, &r2);
        }
        this.r2 = r2;
        this
    }

    /// a·b·R⁻¹ mod n, for a and b below n.
    fn multiply(&self, a: &U2048, b: &U2048) -> U2048 {
        montgomery_reduction(&a.mul_wide(b), &self.n, self.n_neg_inv)
    }

    /// base^exponent mod n, for a base below n and an exponent above 0:
    /// square and multiply over the exponent's bits, most significant
    /// first (65537: sixteen squarings and one multiplication).
    fn power(&self, base: &U2048, exponent: u32) -> U2048 {
        let base = self.multiply(base, &self.r2);
        let mut power = base;
        for bit in (0..u32::BITS - 1 - exponent.leading_zeros()).rev() {
            power = self.multiply(&power, &power);
            if (exponent >> bit) & 1 == 1 {
                power = self.multiply(&power, &base);
            }
        }
        // Out of Montgomery form.
        self.multiply(&power, &U2048::ONE)
    }
}

/// `EM = 0x00 || 0x01 || PS (0xff…, at least 8) || 0x00 || DigestInfo`
/// (RFC 8017 §9.2).
fn matches_encoding(em: &[u8], digest: &[u8]) -> bool {
    let tail_len = SHA256_DIGEST_INFO.len() + digest.len();
    let Some(padding_len) = em.len().checked_sub(3 + tail_len) else {
        return false;
    };
    let Some((head, rest)) = em.split_at_checked(2) else {
        return false;
    };
    let Some((padding, rest)) = rest.split_at_checked(padding_len) else {
        return false;
    };
    let Some((separator, rest)) = rest.split_at_checked(1) else {
        return false;
    };
    let Some((info, hash)) = rest.split_at_checked(SHA256_DIGEST_INFO.len()) else {
        return false;
    };
    head == [0x00, 0x01]
        && padding_len >= 8
        && padding.iter().all(|b| *b == 0xff)
        && separator == [0x00]
        && info == SHA256_DIGEST_INFO
        && hash == digest
}

/// The modulus (big-endian, no leading zero) and the public exponent of a
/// DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent
/// INTEGER }`.
fn parse_public_key(der: &[u8]) -> Option<(&[u8], u32)> {
    let mut reader = der::SliceReader::new(der).ok()?;
    let (modulus, exponent) = reader
        .sequence(|seq| Ok((UintRef::decode(seq)?, UintRef::decode(seq)?)))
        .ok()?;
    reader.finish(()).ok()?;
    let exponent_bytes = exponent.as_bytes();
    if exponent_bytes.len() > 4 {
        return None;
    }
    let exponent = exponent_bytes
        .iter()
        .fold(0u32, |value, byte| value << 8 | u32::from(*byte));
    Some((modulus.as_bytes(), exponent))
}

/// A big-endian number of at most [`MAX_MODULUS_LEN`] bytes as a `U2048`.
fn widen(bytes: &[u8]) -> Option<U2048> {
    let mut padded = [0u8; MAX_MODULUS_LEN];
    padded
        .get_mut(MAX_MODULUS_LEN.checked_sub(bytes.len())?..)?
        .copy_from_slice(bytes);
    Some(U2048::from_be_slice(&padded))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    extern crate std;
    use std::vec;

    use super::matches_encoding;

    #[test]
    fn the_encoding_needs_every_part() {
        let digest = [7u8; 32];
        let mut em = vec![0x00, 0x01];
        em.extend([0xff; 10]);
        em.push(0x00);
        em.extend(super::SHA256_DIGEST_INFO);
        em.extend(digest);
        assert!(matches_encoding(&em, &digest));
        for i in 0..em.len() {
            let mut bad = em.clone();
            bad[i] ^= 0x40;
            assert!(!matches_encoding(&bad, &digest), "byte {i} changed");
        }
        // Padding shorter than 8 bytes.
        let mut short = vec![0x00, 0x01];
        short.extend([0xff; 7]);
        short.push(0x00);
        short.extend(super::SHA256_DIGEST_INFO);
        short.extend(digest);
        assert!(!matches_encoding(&short, &digest));
    }
}
