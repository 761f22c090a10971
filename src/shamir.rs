//! K-of-N sharing of the data key D (never of the secret itself) over GF(256) with vsss-rs,
//! which has constant-time field arithmetic and rejects x = 0 and duplicate shares. The combiner
//! has no threshold of its own: given fewer than K shares it returns a wrong value without
//! error, so custody enforces K here and checks every result against the share commitments.

use zeroize::Zeroizing;

use crate::secret::{DataKey, ShareValue};

/// One share of D: its index (the x-coordinate, 1..=N) and its 32-byte value.
pub struct Share {
    /// The x-coordinate, 1..=N; the file format numbers shares the same way.
    pub index: u8,
    /// The share's value.
    pub value: ShareValue,
}

/// Split D into `n` shares, any `k` of which recover it.
pub fn split(d: &DataKey, k: u8, n: u8) -> Result<Vec<Share>, String> {
    if !(2 <= k && k <= n) {
        return Err(format!(
            "{k} of {n} is not a valid threshold (2 ≤ K ≤ N ≤ 255)"
        ));
    }
    let rng = rand::rand_core::UnwrapErr(rand::rngs::SysRng);
    let raw = vsss_rs::Gf256::split_bytes(k as usize, n as usize, &d.expose()[..], rng)
        .map_err(|e| format!("splitting failed: {e:?}"))?;
    let raw: Vec<Zeroizing<Vec<u8>>> = raw.into_iter().map(Zeroizing::new).collect();
    let mut out = Vec::with_capacity(n as usize);
    for (i, s) in raw.iter().enumerate() {
        // The file format numbers shares 1..=N: insist the library did the same.
        let (Some((&index, rest)), true) = (s.split_first(), s.len() == 33) else {
            return Err("the share generator returned an unexpected share layout".into());
        };
        let Ok(bytes) = <&[u8; 32]>::try_from(rest) else {
            return Err("the share generator returned an unexpected share layout".into());
        };
        if index as usize != i + 1 {
            return Err("the share generator returned an unexpected share layout".into());
        }
        out.push(Share {
            index,
            value: ShareValue::from_bytes(bytes),
        });
    }
    Ok(out)
}

/// Recover D from exactly `k` shares with distinct indices.
pub fn combine(shares: &[&Share], k: u8) -> Result<DataKey, String> {
    if shares.len() != k as usize {
        return Err(format!(
            "{} shares given where exactly {k} are needed",
            shares.len()
        ));
    }
    let mut seen = [false; 256];
    for s in shares {
        if s.index == 0 || std::mem::replace(&mut seen[s.index as usize], true) {
            return Err(format!("share index {} is invalid or repeated", s.index));
        }
    }
    // Sized first, so no share is copied by a reallocation.
    let mut raw: Zeroizing<Vec<Vec<u8>>> = Zeroizing::new(Vec::with_capacity(shares.len()));
    for s in shares {
        let mut v = Vec::with_capacity(33);
        v.push(s.index);
        v.extend_from_slice(s.value.expose());
        raw.push(v);
    }
    let d = Zeroizing::new(
        vsss_rs::Gf256::combine_bytes(&*raw).map_err(|e| format!("combining failed: {e:?}"))?,
    );
    let Ok(bytes) = <&[u8; 32]>::try_from(d.as_slice()) else {
        return Err("combining returned a value of the wrong length".into());
    };
    Ok(DataKey::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_k_subset_recovers_and_k_minus_one_does_not() {
        let d = crate::crypto::random_data_key();
        let shares = split(&d, 3, 5).unwrap();
        assert_eq!(
            shares.iter().map(|s| s.index).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        for a in 0..5 {
            for b in a + 1..5 {
                for c in b + 1..5 {
                    let got = combine(&[&shares[a], &shares[b], &shares[c]], 3).unwrap();
                    assert_eq!(got.expose(), d.expose());
                }
                assert!(combine(&[&shares[a], &shares[b]], 3).is_err());
            }
        }
    }

    #[test]
    fn duplicates_and_bad_thresholds_are_refused() {
        let d = crate::crypto::random_data_key();
        let s = split(&d, 2, 3).unwrap();
        assert!(combine(&[&s[0], &s[0]], 2).is_err());
        assert!(split(&d, 1, 3).is_err());
        assert!(split(&d, 4, 3).is_err());
        let all = split(&d, 255, 255).unwrap();
        assert_eq!(all.len(), 255);
        assert_eq!(all[254].index, 255);
    }

    #[test]
    fn a_wrong_share_gives_another_value() {
        let d = crate::crypto::random_data_key();
        let s = split(&d, 2, 3).unwrap();
        let mut flipped = *s[1].value.expose();
        flipped[0] ^= 1;
        let bad = Share {
            index: s[1].index,
            value: ShareValue::from_bytes(&flipped),
        };
        let got = combine(&[&s[0], &bad], 2).unwrap();
        assert_ne!(got.expose(), d.expose());
    }

    /// The scheme as docs/FORMAT.md §4.14 states it, written out independently: GF(2^8) with
    /// 0x11B, x = index, Lagrange interpolation at 0, byte by byte.
    #[test]
    fn matches_the_documented_scheme() {
        fn mul(mut a: u8, mut b: u8) -> u8 {
            let mut p = 0u8;
            while b != 0 {
                if b & 1 != 0 {
                    p ^= a;
                }
                let carry = a & 0x80 != 0;
                a <<= 1;
                if carry {
                    a ^= 0x1b;
                }
                b >>= 1;
            }
            p
        }
        fn inv(a: u8) -> u8 {
            let mut r = 1u8;
            for _ in 0..254 {
                r = mul(r, a);
            }
            r
        }
        let d = crate::crypto::random_data_key();
        let shares = split(&d, 3, 4).unwrap();
        let pick = [&shares[3], &shares[1], &shares[2]];
        for j in 0..32 {
            let mut acc = 0u8;
            for (m, sm) in pick.iter().enumerate() {
                let mut l = 1u8;
                for (q, sq) in pick.iter().enumerate() {
                    if q != m {
                        // x_q / (x_q - x_m) at x = 0; subtraction is XOR.
                        l = mul(l, mul(sq.index, inv(sq.index ^ sm.index)));
                    }
                }
                acc ^= mul(sm.value.expose()[j], l);
            }
            assert_eq!(acc, d.expose()[j], "byte {j}");
        }
    }
}
