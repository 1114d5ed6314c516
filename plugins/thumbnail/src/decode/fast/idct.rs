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
#[inline(always)]
pub(crate) fn block(
    coef: &[i32; 64],
    dc_only: bool,
    kh: usize,
    kv: usize,
    out: &mut [u8],
    stride: usize,
) {
    match (kh, kv) {
        (1, 1) => out[0] = clamp(coef[0] as f32 / 8.0 + 128.0),
        _ if dc_only => {
            let v = clamp(coef[0] as f32 / 8.0 + 128.0);
            for y in 0..kv {
                let row = &mut out[y * stride..];
                // stores of a fixed size: a `fill` of kh bytes is a host call in wasm
                match kh {
                    1 => row[0] = v,
                    2 => row[..2].copy_from_slice(&[v; 2]),
                    4 => row[..4].copy_from_slice(&[v; 4]),
                    _ => row[..8].copy_from_slice(&[v; 8]),
                }
            }
        }
        (2, 2) => block_2x2(coef, out, stride),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        (4, 4) => block_4x4_simd(coef, out, stride),
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        (4, 4) => block_4x4(coef, out, stride),
        _ => block_any(coef, kh, kv, out, stride),
    }
}

/// Any other k_h x k_v, from the basis.
#[inline(never)]
fn block_any(coef: &[i32; 64], kh: usize, kv: usize, out: &mut [u8], stride: usize) {
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

/// k = 2: with a_2(x, u) = +-1/(2 sqrt 2), each pixel is (F00 +- F01 +- F10 +- F11) / 8.
#[inline(always)]
fn block_2x2(coef: &[i32; 64], out: &mut [u8], stride: usize) {
    let (f00, f01, f10, f11) = (coef[0], coef[1], coef[8], coef[9]);
    let (s0, d0) = (f00 + f10, f00 - f10); // rows: top, bottom
    let (s1, d1) = (f01 + f11, f01 - f11);
    let px = |v: i32| ((v + 4) >> 3).wrapping_add(128).clamp(0, 255) as u8;
    out[0] = px(s0 + s1);
    out[1] = px(s0 - s1);
    out[stride] = px(d0 + d1);
    out[stride + 1] = px(d0 - d1);
}

/// The constants of the 4-point IDCT: cos(pi/4) / 2, cos(pi/8) / 2, cos(3pi/8) / 2.
const IDCT4: (f32, f32, f32) = (0.353_553_38, 0.461_939_77, 0.191_341_72);

/// The 4-point IDCT of a_4 with its even/odd symmetry: 6 multiplications.
#[inline(always)]
fn idct4(f: [f32; 4]) -> [f32; 4] {
    const A: f32 = IDCT4.0;
    const B: f32 = IDCT4.1;
    const C: f32 = IDCT4.2;
    let (t0, t1) = ((f[0] + f[2]) * A, (f[0] - f[2]) * A);
    let (o0, o1) = (B * f[1] + C * f[3], C * f[1] - B * f[3]);
    [t0 + o0, t1 + o1, t1 - o1, t0 - o0]
}

/// k = 4 in wasm: [`block_4x4`]'s arithmetic, the same operations in the same order (so the
/// same pixels, bit for bit), four lanes at a time in simd128: a 4x4 block is four vectors.
/// The scalar code compiles to about four times the instructions, and the pixels go out as
/// one 4-byte store per row.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn block_4x4_simd(coef: &[i32; 64], out: &mut [u8], stride: usize) {
    use core::arch::wasm32::*;
    let (a, b, c) = (
        f32x4_splat(IDCT4.0),
        f32x4_splat(IDCT4.1),
        f32x4_splat(IDCT4.2),
    );
    // the 4-point transform on four lanes at once, as `idct4`
    let idct4 = |f: [v128; 4]| {
        let t0 = f32x4_mul(f32x4_add(f[0], f[2]), a);
        let t1 = f32x4_mul(f32x4_sub(f[0], f[2]), a);
        let o0 = f32x4_add(f32x4_mul(b, f[1]), f32x4_mul(c, f[3]));
        let o1 = f32x4_sub(f32x4_mul(c, f[1]), f32x4_mul(b, f[3]));
        [
            f32x4_add(t0, o0),
            f32x4_add(t1, o1),
            f32x4_sub(t1, o1),
            f32x4_sub(t0, o0),
        ]
    };
    let transpose = |m: [v128; 4]| {
        let t0 = i32x4_shuffle::<0, 4, 1, 5>(m[0], m[1]);
        let t1 = i32x4_shuffle::<2, 6, 3, 7>(m[0], m[1]);
        let t2 = i32x4_shuffle::<0, 4, 1, 5>(m[2], m[3]);
        let t3 = i32x4_shuffle::<2, 6, 3, 7>(m[2], m[3]);
        [
            i64x2_shuffle::<0, 2>(t0, t2),
            i64x2_shuffle::<1, 3>(t0, t2),
            i64x2_shuffle::<0, 2>(t1, t3),
            i64x2_shuffle::<1, 3>(t1, t3),
        ]
    };
    let row = |v: usize| {
        let r = &coef[v * 8..v * 8 + 4];
        f32x4_convert_i32x4(i32x4(r[0], r[1], r[2], r[3]))
    };
    // lanes v: coefficient u of each row; the rows' transforms give rows[v][x] in lane v of
    // vector x; transposed, lanes x of vector v; the columns' transforms give pixel (x, y)
    // in lane x of vector y
    let by_u = transpose([row(0), row(1), row(2), row(3)]);
    let rows = transpose(idct4(by_u));
    let pixels = idct4(rows);
    let (offset, half) = (f32x4_splat(128.0), f32x4_splat(0.5));
    let (low, high) = (f32x4_splat(0.0), f32x4_splat(255.0));
    let bytes = pixels.map(|p| {
        let v = f32x4_add(f32x4_add(p, offset), half);
        i32x4_trunc_sat_f32x4(f32x4_min(f32x4_max(v, low), high))
    });
    let packed = u8x16_narrow_i16x8(
        i16x8_narrow_i32x4(bytes[0], bytes[1]),
        i16x8_narrow_i32x4(bytes[2], bytes[3]),
    );
    let lanes = [
        u32x4_extract_lane::<0>(packed),
        u32x4_extract_lane::<1>(packed),
        u32x4_extract_lane::<2>(packed),
        u32x4_extract_lane::<3>(packed),
    ];
    for (y, lane) in lanes.iter().enumerate() {
        out[y * stride..y * stride + 4].copy_from_slice(&lane.to_le_bytes());
    }
}

/// k = 4: rows of the top-left 4x4 coefficients (all-zero rows skipped), then columns.
#[cfg_attr(
    all(target_arch = "wasm32", target_feature = "simd128"),
    allow(dead_code) // block_4x4_simd instead
)]
#[inline(always)]
fn block_4x4(coef: &[i32; 64], out: &mut [u8], stride: usize) {
    let mut rows = [[0f32; 4]; 4];
    for (v, row) in rows.iter_mut().enumerate() {
        let c = &coef[v * 8..v * 8 + 4];
        if c.iter().any(|&x| x != 0) {
            *row = idct4([c[0] as f32, c[1] as f32, c[2] as f32, c[3] as f32]);
        }
    }
    for x in 0..4 {
        let col = idct4([rows[0][x], rows[1][x], rows[2][x], rows[3][x]]);
        for (y, v) in col.iter().enumerate() {
            out[y * stride + x] = clamp(v + 128.0);
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
    fn the_specialised_idcts_equal_the_generic_one() {
        let mut coef = [0i32; 64];
        for (i, c) in coef.iter_mut().enumerate() {
            *c = ((i as i32 * 37) % 41 - 20) * (8 - (i as i32 / 8)) * 3;
        }
        for k in [2usize, 4] {
            let (mut special, mut generic) = ([0u8; 32], [0u8; 32]);
            block(&coef, false, k, k, &mut special, 8);
            let (bh, bv) = (&basis()[log2(k)], &basis()[log2(k)]);
            for y in 0..k {
                for x in 0..k {
                    let mut acc = 128.0f32;
                    for v in 0..k {
                        for u in 0..k {
                            acc += bh[x][u] * bv[y][v] * coef[v * 8 + u] as f32;
                        }
                    }
                    generic[y * 8 + x] = clamp(acc);
                }
            }
            for (a, b) in special.iter().zip(&generic) {
                assert!(a.abs_diff(*b) <= 1, "k {k}: {special:?} vs {generic:?}");
            }
        }
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
