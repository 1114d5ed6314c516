//! A focused JPEG decoder for shrink-on-load, where a thumbnail needs far less than a full
//! decode: at 1/8 only each block's DC coefficient (AC symbols are decoded just far enough to
//! skip them: no dequantisation, no IDCT, no stores), at 1/4 and 1/2 reduced IDCTs of the
//! top-left coefficients. Chroma is decoded at luma's resolution (a 4:2:0 chroma block gives
//! twice the pixels of a luma block), so no upsampling blurs it. Progressive files are read
//! when DC is all that is needed: the first DC scans are the whole answer, and reading stops
//! there; at 1/4 and 1/2 the kept corner's coefficients are collected from the DC and AC
//! scans, successive-approximation refinements included, with the scans that cannot matter
//! skipped unread (see [`progressive`]).
//!
//! It reads baseline and extended Huffman JPEGs (8-bit, gray or YCbCr, any sampling whose
//! ratios the scale can absorb, restart markers) and progressive ones as above.
//! Anything else is [`Unsupported`], and the caller decodes with jpeg-decoder instead (CMYK,
//! YCCK, RGB, 12-bit, arithmetic coding, corrupt data...).

mod color;
mod huffman;
mod idct;
mod markers;
mod progressive;
#[cfg(test)]
mod tests;

use huffman::{BitError, BitReader, HuffmanTable, AC_EOB};
use markers::{read_until_scan, Frame, Next, Scan, Tables};

/// Why this decoder leaves the file to jpeg-decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unsupported {
    Truncated,
    Corrupt,
    /// Lossless, hierarchical or arithmetic coding.
    Coding,
    Precision,
    /// Not 1 (gray) or 3 (YCbCr) components, or RGB/CMYK.
    Components,
    /// Sampling factors the scale cannot absorb.
    Layout,
}

impl From<BitError> for Unsupported {
    fn from(e: BitError) -> Self {
        match e {
            BitError::BadCode => Unsupported::Corrupt,
        }
    }
}

/// The decoded picture: RGB, `ceil(width / denom)` x `ceil(height / denom)`.
pub(crate) struct Scaled {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// Natural (row-major) index of each zigzag position.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// One component being decoded into its plane.
struct Component {
    h: usize,
    v: usize,
    /// Output pixels per block across and down.
    kh: usize,
    kv: usize,
    /// Dequantisation factors, natural order.
    quant: [i32; 64],
    /// The last zigzag position inside the kept kv x kh corner, and which positions are in it
    /// (bit z for zigzag position z).
    last_kept: usize,
    kept: u64,
    /// Progressive files: each kept zigzag position's slot in a block's stored coefficients
    /// (in zigzag order, so slot 0 is the DC), and how many slots a block has.
    slot_of: [u8; 64],
    slots: usize,
    /// Blocks across and down of the MCU-padded grid.
    blocks_w: usize,
    blocks_h: usize,
    /// Blocks that hold picture in a non-interleaved scan.
    own_blocks_w: usize,
    own_blocks_h: usize,
    plane: Vec<u8>,
    dc_pred: i32,
    /// Progressive files only: the kept coefficients (quantised, `slots` per block) of every
    /// block of the MCU-padded grid.
    coefs: Vec<i16>,
    /// Progressive files only: the successive-approximation bits the DC still lacks.
    dc_al: u8,
    /// Progressive files whose AC refinement scans reach into this component's kept corner:
    /// for every block, which zigzag positions are non-zero so far (bit z), corner or not, as
    /// a refinement scan's parsing depends on it. Empty otherwise.
    nonzero: Vec<u64>,
}

impl Component {
    fn stride(&self) -> usize {
        self.blocks_w * self.kh
    }
}

/// Decodes `input` at 1/`denom` (2, 4 or 8), or says why it will not.
pub(crate) fn decode(input: &[u8], denom: usize) -> Result<Scaled, Unsupported> {
    let mut tables = Tables::default();
    let Next::Scan(mut scan, mut data) = read_until_scan(input, 2, &mut tables)? else {
        return Err(Unsupported::Truncated);
    };
    let frame = tables.frame.clone().ok_or(Unsupported::Corrupt)?;
    check_colour(&frame, tables.adobe_transform)?;
    let mut comps = components(&frame, &tables, denom)?;
    if frame.progressive {
        progressive::read_scans(input, scan, data, &frame, &mut tables, &mut comps)?;
        progressive::finish(&mut comps);
        return Ok(to_rgb(&frame, &comps, denom));
    }
    loop {
        update_quant(&mut comps, &frame, &tables);
        let end = baseline_scan(input, data, &scan, &frame, &tables, &mut comps)?;
        match read_until_scan(input, end, &mut tables)? {
            Next::Scan(s, d) => (scan, data) = (s, d),
            Next::End => break,
        }
    }
    Ok(to_rgb(&frame, &comps, denom))
}

/// Tables may change between scans: each component's dequantisation factors as they are now.
fn update_quant(comps: &mut [Component], frame: &Frame, tables: &Tables) {
    for (c, fc) in comps.iter_mut().zip(&frame.components) {
        if let Some(q) = &tables.quant[fc.tq] {
            c.quant = natural_quant(q);
        }
    }
}

/// Gray, or three components that are YCbCr (not RGB by Adobe's flag or by their ids).
fn check_colour(frame: &Frame, adobe: Option<u8>) -> Result<(), Unsupported> {
    match frame.components.len() {
        1 => Ok(()),
        3 => {
            let ids: Vec<u8> = frame.components.iter().map(|c| c.id).collect();
            let rgb = match adobe {
                Some(t) => t == 0,
                None => ids == b"RGB",
            };
            if rgb {
                Err(Unsupported::Components)
            } else {
                Ok(())
            }
        }
        _ => Err(Unsupported::Components),
    }
}

fn natural_quant(zigzag: &[u16; 64]) -> [i32; 64] {
    let mut q = [0i32; 64];
    for (i, &v) in zigzag.iter().enumerate() {
        q[ZIGZAG[i]] = i32::from(v);
    }
    q
}

/// Each component's block size at this scale: a block covers 8 * hmax / h pixels of the full
/// grid across, so it gives that / denom pixels, which must be 1, 2, 4 or 8.
fn components(frame: &Frame, tables: &Tables, denom: usize) -> Result<Vec<Component>, Unsupported> {
    let (hmax, vmax) = (frame.hmax(), frame.vmax());
    let (mcus_x, mcus_y) = frame.mcus();
    frame
        .components
        .iter()
        .map(|fc| {
            let size = |max: usize, f: usize| {
                if !max.is_multiple_of(f) || !(8 * max / f).is_multiple_of(denom) {
                    return Err(Unsupported::Layout);
                }
                let k = 8 * max / f / denom;
                if [1, 2, 4, 8].contains(&k) {
                    Ok(k)
                } else {
                    Err(Unsupported::Layout)
                }
            };
            let (kh, kv) = (size(hmax, fc.h)?, size(vmax, fc.v)?);
            let quant = tables.quant[fc.tq]
                .as_ref()
                .map(natural_quant)
                .ok_or(Unsupported::Corrupt)?;
            let (last_kept, kept) = corner(kh, kv);
            let mut slot_of = [progressive::NO_SLOT; 64];
            let mut slots = 0;
            for (z, slot) in slot_of.iter_mut().enumerate() {
                if kept >> z & 1 != 0 {
                    *slot = slots as u8;
                    slots += 1;
                }
            }
            let (blocks_w, blocks_h) = (mcus_x * fc.h, mcus_y * fc.v);
            let own_w = (frame.width * fc.h).div_ceil(hmax).div_ceil(8);
            let own_h = (frame.height * fc.v).div_ceil(vmax).div_ceil(8);
            Ok(Component {
                h: fc.h,
                v: fc.v,
                kh,
                kv,
                quant,
                last_kept,
                kept,
                slot_of,
                slots,
                blocks_w,
                blocks_h,
                own_blocks_w: own_w,
                own_blocks_h: own_h,
                plane: vec![0; blocks_w * kh * blocks_h * kv],
                dc_pred: 0,
                coefs: if frame.progressive {
                    vec![0; blocks_w * blocks_h * slots]
                } else {
                    Vec::new()
                },
                dc_al: 0,
                nonzero: Vec::new(),
            })
        })
        .collect()
}

/// The tables a scan's components use, checked present.
fn scan_tables<'t>(
    scan: &Scan,
    tables: &'t Tables,
    ac: bool,
) -> Result<Vec<(&'t HuffmanTable, Option<&'t HuffmanTable>)>, Unsupported> {
    scan.components
        .iter()
        .map(|&(_, td, ta)| {
            let dc = tables.dc[td].as_ref().ok_or(Unsupported::Corrupt)?;
            let ac = if ac {
                Some(tables.ac[ta].as_ref().ok_or(Unsupported::Corrupt)?)
            } else {
                None
            };
            Ok((dc, ac))
        })
        .collect()
}

/// The blocks of an MCU of `scan`, as (scan component, block x, block y) offsets from the
/// MCU's first block of each component (its x times h, its y times v), in coding order.
fn mcu_layout(scan: &Scan, comps: &[Component]) -> Vec<(usize, usize, usize)> {
    if scan.components.len() == 1 {
        return vec![(0, 0, 0)];
    }
    let mut out = Vec::new();
    for (s, &(ci, _, _)) in scan.components.iter().enumerate() {
        let c = &comps[ci];
        for by in 0..c.v {
            for bx in 0..c.h {
                out.push((s, bx, by));
            }
        }
    }
    out
}

/// An MCU's size in blocks of the scan's component `s` (1 x 1 in a single-component scan).
fn mcu_size(scan: &Scan, comps: &[Component], s: usize) -> (usize, usize) {
    if scan.components.len() == 1 {
        (1, 1)
    } else {
        let c = &comps[scan.components[s].0];
        (c.h, c.v)
    }
}

/// The MCUs across and down of a scan: the frame's for an interleaved one, the component's
/// own blocks for a single-component scan.
fn scan_mcus(scan: &Scan, frame: &Frame, comps: &[Component]) -> (usize, usize) {
    if scan.components.len() == 1 {
        let c = &comps[scan.components[0].0];
        (c.own_blocks_w, c.own_blocks_h)
    } else {
        frame.mcus()
    }
}

/// Walks the blocks of `scan` in coding order, MCU by MCU, with its entropy-coded data from
/// `data` on: restart intervals (the reader restarted, the scan's DC predictions reset) and a
/// truncation check after each row of MCUs. `block(reader, s, component, bx, by)` reads one
/// block: `s` is its component's index in the scan, (`bx`, `by`) its place in the component's
/// grid of blocks (maybe past the MCU-padded grid of a non-interleaved scan; never past it in
/// an interleaved one). Returns where the next marker is.
fn walk_scan<F>(
    input: &[u8],
    data: usize,
    scan: &Scan,
    frame: &Frame,
    restart_interval: usize,
    comps: &mut [Component],
    mut block: F,
) -> Result<usize, Unsupported>
where
    F: FnMut(&mut BitReader<'_>, usize, &mut Component, usize, usize) -> Result<(), Unsupported>,
{
    let (mcus_x, mcus_y) = scan_mcus(scan, frame, comps);
    let mut reader = BitReader::new(input, data);
    // each block of an MCU: (scan component, its component, x and y offsets, MCU size)
    let layout: Vec<_> = mcu_layout(scan, comps)
        .into_iter()
        .map(|(s, dx, dy)| (s, scan.components[s].0, dx, dy, mcu_size(scan, comps, s)))
        .collect();
    let mut left = restart_interval;
    for &(ci, _, _) in &scan.components {
        comps[ci].dc_pred = 0;
    }
    for my in 0..mcus_y {
        for mx in 0..mcus_x {
            if restart_interval > 0 {
                if left == 0 {
                    reader.restart();
                    for &(ci, _, _) in &scan.components {
                        comps[ci].dc_pred = 0;
                    }
                    left = restart_interval;
                }
                left -= 1;
            }
            for &(s, ci, dx, dy, (w, h)) in &layout {
                let c = comps.get_mut(ci).ok_or(Unsupported::Corrupt)?;
                block(&mut reader, s, c, mx * w + dx, my * h + dy)?;
            }
        }
        if reader.overrun() {
            return Err(Unsupported::Truncated);
        }
    }
    Ok(reader.end_of_scan())
}

/// Decodes a baseline scan into the planes; returns where the next marker is.
fn baseline_scan(
    input: &[u8],
    data: usize,
    scan: &Scan,
    frame: &Frame,
    tables: &Tables,
    comps: &mut [Component],
) -> Result<usize, Unsupported> {
    let huff = scan_tables(scan, tables, true)?
        .into_iter()
        .map(|(dc, ac)| Ok((dc, ac.ok_or(Unsupported::Corrupt)?)))
        .collect::<Result<Vec<_>, Unsupported>>()?;
    let mut coef = [0i32; 64];
    let ri = tables.restart_interval;
    walk_scan(
        input,
        data,
        scan,
        frame,
        ri,
        comps,
        |reader, s, c, bx, by| {
            let (dc_table, ac_table) = huff.get(s).copied().ok_or(Unsupported::Corrupt)?;
            // one function per common corner size, where the corner is known at compile time
            match (c.kh, c.kv) {
                (1, 1) => read_block::<1>(reader, dc_table, ac_table, c, &mut coef, bx, by),
                (2, 2) => read_block::<2>(reader, dc_table, ac_table, c, &mut coef, bx, by),
                (4, 4) => read_block::<4>(reader, dc_table, ac_table, c, &mut coef, bx, by),
                _ => read_block::<0>(reader, dc_table, ac_table, c, &mut coef, bx, by),
            }
        },
    )
}

/// The corner of a block whose top-left `kv` x `kh` coefficients are kept: its last zigzag
/// position, and which zigzag positions are in it (bit z for position z). A `const fn`, so
/// that [`read_block`]'s square corners fold away at compile time.
const fn corner(kh: usize, kv: usize) -> (usize, u64) {
    let (mut last, mut mask, mut z) = (0, 0u64, 0);
    while z < 64 {
        if ZIGZAG[z] / 8 < kv && ZIGZAG[z] % 8 < kh {
            last = z;
            mask |= 1 << z;
        }
        z += 1;
    }
    (last, mask)
}

/// Reads one block of a baseline scan into its component's plane (when it is inside the
/// MCU-padded grid), leaving `coef` zeroed again. `K` is the kept corner's size when it is
/// `K` x `K` (so its tests fold away), 0 for any other corner (read from the component).
///
/// A function of its own, working on a copy of the reader: in the one big function that
/// inlining made of a whole scan, cranelift kept the bit buffer on the stack, a store and a
/// load on every symbol's critical path; here it stays in a register.
#[inline(never)]
fn read_block<const K: usize>(
    r: &mut BitReader<'_>,
    dc_table: &HuffmanTable,
    ac_table: &HuffmanTable,
    c: &mut Component,
    coef: &mut [i32; 64],
    bx: usize,
    by: usize,
) -> Result<(), Unsupported> {
    let ((kh, kv), (last_kept, kept)) = if K == 0 {
        ((c.kh, c.kv), (c.last_kept, c.kept))
    } else {
        ((K, K), corner(K, K))
    };
    let mut local = *r;
    let dc_only = decode_block(&mut local, dc_table, ac_table, c, coef, last_kept, kept)?;
    *r = local;
    if bx < c.blocks_w && by < c.blocks_h {
        let stride = c.stride();
        let at = by * kv * stride + bx * kh;
        idct::block(coef, dc_only, kh, kv, &mut c.plane[at..], stride);
    }
    clear_corner(coef, kh, kv);
    Ok(())
}

/// Zeroes the top-left `kv` x `kh` coefficients, with stores of a fixed size (no call to
/// `memset`, which is a host call per block in wasm).
#[inline(always)]
fn clear_corner(coef: &mut [i32; 64], kh: usize, kv: usize) {
    for row in coef.chunks_exact_mut(8).take(kv) {
        match kh {
            1 => row[0] = 0,
            2 => row[..2].copy_from_slice(&[0; 2]),
            4 => row[..4].copy_from_slice(&[0; 4]),
            _ => row.copy_from_slice(&[0; 8]),
        }
    }
}

/// Decodes one block's coefficients: the DC, and the AC ones inside the kept corner (up to
/// zigzag position `last_kept`, the positions whose bit is set in `kept`), dequantised into
/// `coef` (natural order); the others are skipped undecoded. Returns whether no kept AC
/// coefficient is non-zero.
#[inline(always)]
fn decode_block(
    r: &mut BitReader<'_>,
    dc_table: &HuffmanTable,
    ac_table: &HuffmanTable,
    c: &mut Component,
    coef: &mut [i32; 64],
    last_kept: usize,
    kept: u64,
) -> Result<bool, Unsupported> {
    c.dc_pred = c.dc_pred.wrapping_add(r.dc_diff(dc_table)?);
    coef[0] = c.dc_pred.wrapping_mul(c.quant[0]);
    let mut dc_only = true;
    let mut k = 1usize;
    // the kept corner: decode and store
    while k <= last_kept {
        if let Some((run, value)) = r.ac_fast(ac_table) {
            if run == AC_EOB {
                return Ok(dc_only);
            }
            k += run;
            if k > 63 {
                return Err(Unsupported::Corrupt);
            }
            if kept >> k & 1 != 0 {
                let n = ZIGZAG[k];
                coef[n] = value.wrapping_mul(c.quant[n]);
                dc_only = false;
            }
            k += 1;
            continue;
        }
        let rs = r.symbol(ac_table)?;
        let (run, size) = (usize::from(rs >> 4), rs & 15);
        if size == 0 {
            if run == 15 {
                k += 16;
                continue;
            }
            return Ok(dc_only);
        }
        k += run;
        if k > 63 {
            return Err(Unsupported::Corrupt);
        }
        if k <= last_kept && kept >> k & 1 != 0 {
            let n = ZIGZAG[k];
            coef[n] = r.receive_extend(size).wrapping_mul(c.quant[n]);
            dc_only = false;
        } else {
            r.skip(u32::from(size));
        }
        k += 1;
    }
    // the rest: skip, one table lookup per symbol in the common case
    while k < 64 {
        if let Some(next) = r.skip_ac(ac_table, k, 64) {
            k = next;
            continue;
        }
        let rs = r.symbol(ac_table)?;
        let (run, size) = (usize::from(rs >> 4), rs & 15);
        if size == 0 {
            if run == 15 {
                k += 16;
                continue;
            }
            break;
        }
        r.skip(u32::from(size));
        k += run + 1;
    }
    Ok(dc_only)
}

/// The planes, all at the output's resolution, as RGB (JFIF's full-range BT.601).
fn to_rgb(frame: &Frame, comps: &[Component], denom: usize) -> Scaled {
    let (w, h) = (frame.width.div_ceil(denom), frame.height.div_ceil(denom));
    let mut pixels = vec![0u8; w * h * 3];
    if let [gray] = comps {
        let stride = gray.stride();
        for (y, out) in pixels.chunks_exact_mut(w * 3).enumerate() {
            for (px, &g) in out
                .chunks_exact_mut(3)
                .zip(&gray.plane[y * stride..y * stride + w])
            {
                px.copy_from_slice(&[g, g, g]);
            }
        }
    } else {
        let (sy, scb, scr) = (comps[0].stride(), comps[1].stride(), comps[2].stride());
        for (y, out) in pixels.chunks_exact_mut(w * 3).enumerate() {
            let ys = &comps[0].plane[y * sy..y * sy + w];
            let cbs = &comps[1].plane[y * scb..y * scb + w];
            let crs = &comps[2].plane[y * scr..y * scr + w];
            color::row_to_rgb(out, ys, cbs, crs);
        }
    }
    Scaled {
        width: w as u32,
        height: h as u32,
        pixels,
    }
}
