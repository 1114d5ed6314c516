//! Reduced inverse DCTs: a block's k_h x k_v pixels (k of 1, 2, 4 or 8) from its top-left
//! k_v x k_h coefficients, each output pixel standing for 8/k of the block's pixels per axis.
//! Separable, in f32: f(x, y) = sum_u sum_v a_kh(x, u) a_kv(y, v) F(v, u) + 128 with
//! a_k(x, u) = C(u) / 2 * cos((2x + 1) u pi / 2k), C(0) = 1/sqrt(2), C(u) = 1 otherwise;
//! for k = 8 that is JPEG's own IDCT, and k = 1 keeps the DC only (the block's mean).

use std::sync::OnceLock;

/// The basis a_k for k = 1, 2, 4, 8 (index log2 k), row-major [x][u] in an 8x8 array.
fn basis() -> &'static [[[f32; 8]; 8]; 4] {
    static BASIS: OnceLock<[[[f32; 8]; 8]; 4]> = OnceLock::new();
    BASIS.get_or_init(|| {
        let mut b = [[[0f32; 8]; 8]; 4];
        for (i, table) in b.iter_mut().enumerate() {
            let k = 1usize << i;
            for (x, row) in table.iter_mut().enumerate().take(k) {
                for (u, a) in row.iter_mut().enumerate().take(k) {
                    let c = if u == 0 {
                        std::f64::consts::FRAC_1_SQRT_2
                    } else {
                        1.0
                    };
                    let angle =
                        (2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / (2 * k) as f64;
                    *a = (c / 2.0 * angle.cos()) as f32;
                }
            }
        }
        b
    })
}

/// log2 of k (1, 2, 4 or 8).
fn log2(k: usize) -> usize {
    k.trailing_zeros() as usize
}

/// Writes the k_h x k_v pixels of the block with dequantised coefficients `coef` (natural
/// order, 8x8; only the top-left k_v x k_h are read) at `out[0]`, rows `stride` apart.
/// `dc_only`: every AC coefficient is zero.
#[inline]
pub(crate) fn block(
    coef: &[i32; 64],
    dc_only: bool,
    kh: usize,
    kv: usize,
    out: &mut [u8],
    stride: usize,
) {
    if dc_only || (kh == 1 && kv == 1) {
        let v = clamp(coef[0] as f32 / 8.0 + 128.0);
        for y in 0..kv {
            out[y * stride..y * stride + kh].fill(v);
        }
        return;
    }
    let (bh, bv) = (&basis()[log2(kh)], &basis()[log2(kv)]);
    // columns first: tmp[y][u] = sum_v a_kv(y, v) F(v, u)
    let mut tmp = [[0f32; 8]; 8];
    for u in 0..kh {
        if (0..kv).all(|v| coef[v * 8 + u] == 0) {
            continue;
        }
        for (y, row) in tmp.iter_mut().enumerate().take(kv) {
            let mut acc = 0.0;
            for v in 0..kv {
                acc += bv[y][v] * coef[v * 8 + u] as f32;
            }
            row[u] = acc;
        }
    }
    for (y, row) in tmp.iter().enumerate().take(kv) {
        let line = &mut out[y * stride..y * stride + kh];
        for (x, px) in line.iter_mut().enumerate() {
            let mut acc = 128.0;
            for u in 0..kh {
                acc += bh[x][u] * row[u];
            }
            *px = clamp(acc);
        }
    }
}

#[inline(always)]
fn clamp(v: f32) -> u8 {
    (v + 0.5).clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The forward DCT of an 8x8 block (JPEG's definition), natural order.
    fn fdct(px: &[[f64; 8]; 8]) -> [i32; 64] {
        let c = |u: usize| {
            if u == 0 {
                std::f64::consts::FRAC_1_SQRT_2
            } else {
                1.0
            }
        };
        let mut out = [0; 64];
        for v in 0..8 {
            for u in 0..8 {
                let mut s = 0.0;
                for (y, row) in px.iter().enumerate() {
                    for (x, p) in row.iter().enumerate() {
                        s += (p - 128.0)
                            * ((2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / 16.0).cos()
                            * ((2 * y + 1) as f64 * v as f64 * std::f64::consts::PI / 16.0).cos();
                    }
                }
                out[v * 8 + u] = (s * c(u) * c(v) / 4.0).round() as i32;
            }
        }
        out
    }

    #[test]
    fn the_full_idct_inverts_the_dct() {
        let mut px = [[0f64; 8]; 8];
        for (y, row) in px.iter_mut().enumerate() {
            for (x, p) in row.iter_mut().enumerate() {
                *p = (40 + x * 20 + y * 7) as f64;
            }
        }
        let coef = fdct(&px);
        let mut out = [0u8; 64];
        block(&coef, false, 8, 8, &mut out, 8);
        for y in 0..8 {
            for x in 0..8 {
                assert!(
                    (f64::from(out[y * 8 + x]) - px[y][x]).abs() <= 1.0,
                    "{x},{y}"
                );
            }
        }
    }

    #[test]
    fn reduced_idcts_give_the_block_at_lower_resolution() {
        // a steep horizontal ramp (16 levels a pixel): each reduced pixel is near the mean of
        // the pixels it covers (not exactly: the coefficients past k are dropped, which costs
        // up to 4 levels here)
        let mut px = [[0f64; 8]; 8];
        for row in px.iter_mut() {
            for (x, p) in row.iter_mut().enumerate() {
                *p = (60 + x * 16) as f64;
            }
        }
        let coef = fdct(&px);
        for k in [1usize, 2, 4] {
            let mut out = [0u8; 16];
            block(&coef, false, k, k, &mut out, 4);
            let span = 8 / k;
            for (x, &got) in out.iter().enumerate().take(k) {
                let mean: f64 =
                    (x * span..(x + 1) * span).map(|i| px[0][i]).sum::<f64>() / span as f64;
                assert!(
                    (f64::from(got) - mean).abs() <= 5.0,
                    "k {k} x {x}: {got} vs {mean}"
                );
            }
        }
        // non-square: 4 across, 2 down
        let mut out = [0u8; 8];
        block(&coef, false, 4, 2, &mut out, 4);
        assert_eq!(out[..4], out[4..]);
    }
}
