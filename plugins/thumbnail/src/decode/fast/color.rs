//! YCbCr to RGB (JFIF's full-range equations in 16-bit fixed point), a row at a time. Inside
//! wasm, 16 pixels per step in simd128: the same integer arithmetic, so the same bytes.

/// One pixel, as libjpeg's `ycc_rgb_convert` computes it (rounded, clamped).
#[inline(always)]
pub(super) fn ycc_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let y = (i32::from(y) << 16) + (1 << 15);
    let (cb, cr) = (i32::from(cb) - 128, i32::from(cr) - 128);
    let r = y + 91_881 * cr;
    let g = y - 22_554 * cb - 46_802 * cr;
    let b = y + 116_130 * cb;
    let c = |v: i32| (v >> 16).clamp(0, 255) as u8;
    [c(r), c(g), c(b)]
}

/// A row of interleaved RGB (`out`: 3 bytes per pixel) from its Y, Cb and Cr samples.
pub(super) fn row_to_rgb(out: &mut [u8], ys: &[u8], cbs: &[u8], crs: &[u8]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let (out, ys, cbs, crs) = simd::rows_of_16(out, ys, cbs, crs);
    for (((px, &y), &cb), &cr) in out.chunks_exact_mut(3).zip(ys).zip(cbs).zip(crs) {
        px.copy_from_slice(&ycc_to_rgb(y, cb, cr));
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use core::arch::wasm32::*;

    /// Converts the row's leading whole groups of 16 pixels; returns the rest of each slice.
    #[inline(always)]
    pub(super) fn rows_of_16<'a, 'b>(
        out: &'a mut [u8],
        ys: &'b [u8],
        cbs: &'b [u8],
        crs: &'b [u8],
    ) -> (&'a mut [u8], &'b [u8], &'b [u8], &'b [u8]) {
        let n = (out.len() / 3).min(ys.len()).min(cbs.len()).min(crs.len()) / 16 * 16;
        for (((px, y), cb), cr) in out[..n * 3]
            .chunks_exact_mut(48)
            .zip(ys[..n].chunks_exact(16))
            .zip(cbs[..n].chunks_exact(16))
            .zip(crs[..n].chunks_exact(16))
        {
            let [a, b, c] = sixteen(load(y), load(cb), load(cr));
            px[..16].copy_from_slice(&a);
            px[16..32].copy_from_slice(&b);
            px[32..].copy_from_slice(&c);
        }
        (&mut out[n * 3..], &ys[n..], &cbs[n..], &crs[n..])
    }

    #[inline(always)]
    fn load(bytes: &[u8]) -> v128 {
        let mut a = [0u8; 16];
        a.copy_from_slice(bytes);
        u8x16(
            a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13],
            a[14], a[15],
        )
    }

    #[inline(always)]
    fn bytes(v: v128) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&u64x2_extract_lane::<0>(v).to_le_bytes());
        out[8..].copy_from_slice(&u64x2_extract_lane::<1>(v).to_le_bytes());
        out
    }

    /// [`super::ycc_to_rgb`] on 16 pixels: four lanes of i32 at a time, then narrowed with
    /// saturation (the clamp to 0..=255) and interleaved into 48 bytes of RGB.
    #[inline(always)]
    fn sixteen(y: v128, cb: v128, cr: v128) -> [[u8; 16]; 3] {
        // the 16 bytes as four i32x4 quarters
        let quarters = |v: v128| {
            let (lo, hi) = (u16x8_extend_low_u8x16(v), u16x8_extend_high_u8x16(v));
            [
                u32x4_extend_low_u16x8(lo),
                u32x4_extend_high_u16x8(lo),
                u32x4_extend_low_u16x8(hi),
                u32x4_extend_high_u16x8(hi),
            ]
        };
        let (y, cb, cr) = (quarters(y), quarters(cb), quarters(cr));
        let centre = i32x4_splat(128);
        let round = i32x4_splat(1 << 15);
        let mul = |v: v128, k: i32| i32x4_mul(v, i32x4_splat(k));
        let mut r = [i32x4_splat(0); 4];
        let mut g = r;
        let mut b = r;
        for q in 0..4 {
            let yq = i32x4_add(i32x4_shl(y[q], 16), round);
            let (cbq, crq) = (i32x4_sub(cb[q], centre), i32x4_sub(cr[q], centre));
            r[q] = i32x4_shr(i32x4_add(yq, mul(crq, 91_881)), 16);
            g[q] = i32x4_shr(
                i32x4_sub(i32x4_sub(yq, mul(cbq, 22_554)), mul(crq, 46_802)),
                16,
            );
            b[q] = i32x4_shr(i32x4_add(yq, mul(cbq, 116_130)), 16);
        }
        let pack = |v: [v128; 4]| {
            u8x16_narrow_i16x8(
                i16x8_narrow_i32x4(v[0], v[1]),
                i16x8_narrow_i32x4(v[2], v[3]),
            )
        };
        let (r, g, b) = (pack(r), pack(g), pack(b));
        // r0 g0 b0 r1 ... : R and G placed first (B's places hold anything), then B
        let t0 = i8x16_shuffle::<0, 16, 0, 1, 17, 0, 2, 18, 0, 3, 19, 0, 4, 20, 0, 5>(r, g);
        let o0 = i8x16_shuffle::<0, 1, 16, 3, 4, 17, 6, 7, 18, 9, 10, 19, 12, 13, 20, 15>(t0, b);
        let t1 = i8x16_shuffle::<21, 0, 6, 22, 0, 7, 23, 0, 8, 24, 0, 9, 25, 0, 10, 26>(r, g);
        let o1 = i8x16_shuffle::<0, 21, 2, 3, 22, 5, 6, 23, 8, 9, 24, 11, 12, 25, 14, 15>(t1, b);
        let t2 = i8x16_shuffle::<0, 11, 27, 0, 12, 28, 0, 13, 29, 0, 14, 30, 0, 15, 31, 0>(r, g);
        let o2 = i8x16_shuffle::<26, 1, 2, 27, 4, 5, 28, 7, 8, 29, 10, 11, 30, 13, 14, 31>(t2, b);
        [bytes(o0), bytes(o1), bytes(o2)]
    }
}
