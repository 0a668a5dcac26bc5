//! RSA signature verification without a heap: RSASSA-PKCS1-v1_5 with
//! SHA-256 (`sha256WithRSAEncryption`, RFC 8017 §8.2.2), for the
//! issuer's signature on a new certificate when the CA's intermediate is an
//! RSA key (Pebble's, and Let's Encrypt's RSA chain).
//!
//! The `rsa` crate needs an allocator; verification is one modular
//! exponentiation by a small public exponent and a comparison, done here
//! on `crypto-bigint`'s 2,048-bit integers and limb arithmetic (already
//! linked through `p256`): Montgomery multiplication limb by limb (CIOS),
//! square and multiply, and no precomputed table: a few 256-byte numbers
//! of stack. Moduli of 1,024 to
//! 2,048 bits (what CAs' issuing intermediates use) and public exponents
//! below 2^32 are taken. Only public data is handled, so nothing here
//! needs to run in constant time.

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
/// exponent that is even, below 3, or 2^32 or more).
#[inline(never)]
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
    // A public exponent is odd and at least 3 (RFC 8017 §3.1).
    if exponent < 3 || exponent % 2 == 0 {
        return None;
    }
    if signature.len() != k {
        return Some(false);
    }
    let n = widen(modulus)?;
    let s = widen(signature)?;
    if s >= n {
        return Some(false);
    }
    let m = Montgomery::new(&n).power(&s, exponent);
    let encoded = m.to_be_bytes();
    let em = encoded.get(MAX_MODULUS_LEN - k..)?;
    Some(matches_encoding(em, digest))
}

/// Arithmetic modulo an odd `n` in Montgomery form, R = 2^2048.
struct Montgomery<'n> {
    n: &'n U2048,
    /// −n⁻¹ mod 2^(bits of a limb).
    n_neg_inv: Limb,
}

/// Limbs of a [`U2048`]: 64 on 32-bit targets.
const LIMBS: usize = U2048::LIMBS;

impl<'n> Montgomery<'n> {
    fn new(n: &'n U2048) -> Self {
        // n⁻¹ modulo the limb's width by Newton's iteration: an odd n is
        // its own inverse modulo 8, and each step doubles the bits.
        let n0: Word = n.as_words().first().copied().unwrap_or(1);
        let mut inverse: Word = n0;
        for _ in 0..6 {
            inverse = inverse.wrapping_mul((2 as Word).wrapping_sub(n0.wrapping_mul(inverse)));
        }
        Self {
            n,
            n_neg_inv: Limb(inverse.wrapping_neg()),
        }
    }

    /// R² mod n, which takes a number into Montgomery form: R·2^64 mod n
    /// by doubling 1 (which is below n), then each Montgomery squaring of
    /// R·2^t gives R·2^2t, and five take it to R·2^2048 = R².
    #[inline(never)]
    fn r_squared(&self) -> U2048 {
        let mut r2 = U2048::ONE;
        for _ in 0..U2048::BITS + 64 {
            self.double(&mut r2);
        }
        for _ in 0..5 {
            r2 = self.multiply(&r2, &r2);
        }
        r2
    }

    /// 2x mod n, in place, for x below n (`add_mod`'s temporaries took a
    /// 1.6 KB frame over the 2,112 doublings of [`Montgomery::r_squared`]).
    fn double(&self, x: &mut U2048) {
        let mut carry = Limb::ZERO;
        for limb in x.as_limbs_mut() {
            (*limb, carry) = limb.adc(*limb, carry);
        }
        if carry != Limb::ZERO || *x >= *self.n {
            *x = x.wrapping_sub(self.n);
        }
    }

    /// a·b·R⁻¹ mod n, for a and b below n: coarsely integrated operand
    /// scanning (CIOS), one limb of `b` at a time, on a 66-limb
    /// accumulator, where a full product and its reduction would take a
    /// 4,096-bit number and its copies.
    fn multiply(&self, a: &U2048, b: &U2048) -> U2048 {
        let mut t = [Limb::ZERO; LIMBS + 2];
        for b_i in b.as_limbs() {
            let [low @ .., high, top] = &mut t;
            // t += a·b_i
            let mut carry = Limb::ZERO;
            for (t_j, a_j) in low.iter_mut().zip(a.as_limbs()) {
                (*t_j, carry) = t_j.mac(*a_j, *b_i, carry);
            }
            (*high, *top) = high.adc(carry, Limb::ZERO);
            // t += m·n, with m chosen so the lowest limb becomes zero ...
            let m = low
                .first()
                .map_or(Limb::ZERO, |t_0| t_0.wrapping_mul(self.n_neg_inv));
            let mut carry = Limb::ZERO;
            for (t_j, n_j) in low.iter_mut().zip(self.n.as_limbs()) {
                (*t_j, carry) = t_j.mac(m, *n_j, carry);
            }
            let (sum, carry) = high.adc(carry, Limb::ZERO);
            *high = sum;
            *top = top.wrapping_add(carry);
            // ... and t /= 2^(bits of a limb).
            t.copy_within(1.., 0);
            if let Some(last) = t.last_mut() {
                *last = Limb::ZERO;
            }
        }
        // t < 2n: one subtraction at most.
        let [low @ .., high, _] = t;
        let result = U2048::new(low);
        if high != Limb::ZERO || result >= *self.n {
            result.wrapping_sub(self.n)
        } else {
            result
        }
    }

    /// base^exponent mod n, for a base below n and an exponent above 0:
    /// square and multiply over the exponent's bits, most significant
    /// first (65537: sixteen squarings and one multiplication).
    #[inline(never)]
    fn power(&self, base: &U2048, exponent: u32) -> U2048 {
        let base = self.multiply(base, &self.r_squared());
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
    use super::{Montgomery, U2048};
    use crypto_bigint::modular::montgomery_reduction;

    /// A deterministic 2,048-bit number from `seed` (xorshift).
    fn number(mut seed: u64) -> U2048 {
        let mut bytes = [0u8; 256];
        for byte in bytes.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *byte = seed as u8;
        }
        U2048::from_be_slice(&bytes)
    }

    #[test]
    fn the_limb_by_limb_product_matches_a_full_reduction() {
        for seed in 1..40u64 {
            // An odd modulus, 2,048 bits or shorter (the top bits cleared).
            let n = number(seed).shr_vartime((seed % 9) as usize * 128) | U2048::ONE;
            let a = number(seed + 1000).rem(&crypto_bigint::NonZero::new(n).unwrap());
            let b = number(seed + 2000).rem(&crypto_bigint::NonZero::new(n).unwrap());
            let field = Montgomery::new(&n);
            let expected = montgomery_reduction(&a.mul_wide(&b), &n, field.n_neg_inv);
            assert_eq!(field.multiply(&a, &b), expected, "seed {seed}");
        }
        // The largest operands: n − 1 squared modulo n.
        let n = U2048::MAX;
        let field = Montgomery::new(&n);
        let a = n.wrapping_sub(&U2048::ONE);
        let expected = montgomery_reduction(&a.mul_wide(&a), &n, field.n_neg_inv);
        assert_eq!(field.multiply(&a, &a), expected);
    }

    /// A DER RSAPublicKey with a 1,024-bit odd modulus and `exponent`.
    fn public_key(exponent: &[u8]) -> std::vec::Vec<u8> {
        let mut modulus = vec![0xc5u8; 128];
        modulus[127] = 0x0b;
        let mut body = vec![0x02, 0x81, 0x81, 0x00];
        body.extend(&modulus);
        body.extend([0x02, exponent.len() as u8]);
        body.extend(exponent);
        let mut der = vec![0x30, 0x81, body.len() as u8];
        der.extend(body);
        der
    }

    #[test]
    fn a_public_exponent_must_be_odd_and_at_least_3() {
        let digest = [0u8; 32];
        let signature = [1u8; 128];
        for exponent in [&[1u8][..], &[2], &[4], &[0x01, 0x00, 0x00]] {
            assert_eq!(
                super::verify_pkcs1_sha256(&public_key(exponent), &digest, &signature),
                None,
                "{exponent:?}"
            );
        }
        for exponent in [&[3u8][..], &[0x01, 0x00, 0x01]] {
            assert_eq!(
                super::verify_pkcs1_sha256(&public_key(exponent), &digest, &signature),
                Some(false),
                "{exponent:?}"
            );
        }
    }

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
