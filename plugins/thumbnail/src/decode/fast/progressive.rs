//! Progressive JPEGs, read only as far as the scale needs.
//!
//! - When every component keeps one pixel per block (DC only: 1/8, or 1/4 of 4:2:0 chroma...),
//!   the first DC scan of each component is the whole answer: reading stops there, the AC scans
//!   and any DC refinement after them are never touched (a missing refinement bit is taken as
//!   the middle of the interval it leaves open, at most half a quantisation step of the DC).
//! - Otherwise (1/4, 1/2) the coefficients of each block's kept corner are collected from the
//!   DC scans and the AC scans. Where no AC refinement scan (successive approximation, Ah > 0)
//!   reaches into a component's corner, its AC first scans whose band starts inside the corner
//!   are read (symbols past the corner skipped undecoded) and every other AC scan of it is
//!   skipped unread. Where one does (libjpeg's default script has them), the refinement's
//!   parsing depends on which coefficients of its band are already non-zero, corner or not:
//!   every AC scan of that component is read, keeping a bit per position and block
//!   ([`Component::nonzero`]) beside the corner's values.

use super::huffman::{next_marker, BitReader, HuffmanTable, AC_EOB};
use super::markers::{read_until_scan, Frame, Next, Scan, Tables};
use super::{idct, scan_tables, update_quant, walk_scan, Component, Unsupported, ZIGZAG};

/// In [`Component::slot_of`]: the zigzag position is not kept.
pub(super) const NO_SLOT: u8 = u8::MAX;

/// Reads the scans from the first (`scan`, its data at `data`) on, into the components'
/// coefficient stores, stopping as soon as nothing later can matter.
pub(super) fn read_scans(
    input: &[u8],
    mut scan: Scan,
    mut data: usize,
    frame: &Frame,
    tables: &mut Tables,
    comps: &mut [Component],
) -> Result<(), Unsupported> {
    let dc_only = comps.iter().all(|c| c.slots == 1);
    if !dc_only {
        let refined = refined_corners(input, data, frame, comps)?;
        for (c, refined) in comps.iter_mut().zip(refined) {
            if refined {
                c.nonzero = vec![0; c.blocks_w * c.blocks_h];
            }
        }
    }
    let mut dc_seen = vec![false; comps.len()];
    loop {
        update_quant(comps, frame, tables);
        let end = if scan.ss == 0 {
            let end = dc_scan(input, data, &scan, frame, tables, comps)?;
            if scan.ah == 0 {
                for &(ci, _, _) in &scan.components {
                    dc_seen[ci] = true;
                }
            }
            if dc_only && dc_seen.iter().all(|&seen| seen) {
                return Ok(()); // the first DC scans are the whole answer
            }
            end
        } else if let [(ci, _, ta)] = scan.components[..] {
            let c = comps.get_mut(ci).ok_or(Unsupported::Corrupt)?;
            let history = !c.nonzero.is_empty();
            // Nothing in a scan can matter when DC is all that is needed, nor, for a component
            // without refinements into its corner, in a band past the corner or in a
            // refinement (those are past the corner: checked beforehand): unread.
            let past = usize::from(scan.ss) > c.last_kept || scan.ah > 0;
            if dc_only || (!history && past) {
                next_marker(input, data)
            } else {
                let table = tables.ac[ta].as_ref().ok_or(Unsupported::Corrupt)?;
                ac_scan(input, data, &scan, tables.restart_interval, table, c)?
            }
        } else {
            return Err(Unsupported::Corrupt); // an AC scan codes one component
        };
        match read_until_scan(input, end, tables)? {
            Next::Scan(s, d) => (scan, data) = (s, d),
            Next::End => break,
        }
    }
    // The data ended: without every component's DC there is no picture to speak of.
    if dc_seen.iter().all(|&seen| seen) {
        Ok(())
    } else {
        Err(Unsupported::Truncated)
    }
}

/// For each component, whether an AC refinement scan (successive approximation, Ah > 0) of
/// the file reaches into its kept corner. Reads only the marker segments between scans.
fn refined_corners(
    input: &[u8],
    first_data: usize,
    frame: &Frame,
    comps: &[Component],
) -> Result<Vec<bool>, Unsupported> {
    let mut refined = vec![false; comps.len()];
    let mut headers = Tables {
        frame: Some(frame.clone()),
        ..Tables::default()
    };
    let mut pos = next_marker(input, first_data);
    loop {
        match read_until_scan(input, pos, &mut headers)? {
            Next::Scan(scan, data) => {
                if scan.ss > 0 && scan.ah > 0 {
                    for &(ci, _, _) in &scan.components {
                        if let (Some(c), Some(r)) = (comps.get(ci), refined.get_mut(ci)) {
                            *r |= usize::from(scan.ss) <= c.last_kept;
                        }
                    }
                }
                pos = next_marker(input, data);
            }
            Next::End => return Ok(refined),
        }
    }
}

/// Reads one DC scan (first or refinement) into slot 0 of each block; returns where the next
/// marker is.
fn dc_scan(
    input: &[u8],
    data: usize,
    scan: &Scan,
    frame: &Frame,
    tables: &Tables,
    comps: &mut [Component],
) -> Result<usize, Unsupported> {
    let first = scan.ah == 0;
    let huff = if first {
        scan_tables(scan, tables, false)?
    } else {
        Vec::new()
    };
    for &(ci, _, _) in &scan.components {
        comps[ci].dc_al = scan.al;
    }
    let ri = tables.restart_interval;
    walk_scan(
        input,
        data,
        scan,
        frame,
        ri,
        comps,
        |reader, s, c, bx, by| {
            let at = (by * c.blocks_w + bx) * c.slots;
            if first {
                let (dc_table, _) = huff.get(s).copied().ok_or(Unsupported::Corrupt)?;
                c.dc_pred = c.dc_pred.wrapping_add(reader.dc_diff(dc_table)?);
                if let Some(dc) = c.coefs.get_mut(at) {
                    *dc = (c.dc_pred << scan.al) as i16;
                }
            } else if reader.bits(1) == 1 {
                if let Some(dc) = c.coefs.get_mut(at) {
                    *dc |= 1 << scan.al;
                }
            }
            Ok(())
        },
    )
}

/// Reads one AC scan of one component (band `ss..=se`, values shifted by `al`): a first scan
/// (storing the coefficients in the kept corner; past it, symbols skipped undecoded, or, when
/// the component keeps [`Component::nonzero`], decoded to mark where they are) or a
/// refinement (only for such a component). Returns where the next marker is.
fn ac_scan(
    input: &[u8],
    data: usize,
    scan: &Scan,
    restart_interval: usize,
    table: &HuffmanTable,
    c: &mut Component,
) -> Result<usize, Unsupported> {
    let (ss, se) = (usize::from(scan.ss), usize::from(scan.se));
    if ss > se || se > 63 {
        return Err(Unsupported::Corrupt);
    }
    let history = !c.nonzero.is_empty();
    let band = Band {
        ss,
        se,
        al: scan.al,
        last_kept: c.last_kept,
    };
    let mut reader = BitReader::new(input, data);
    let mut left = restart_interval;
    let mut eobrun = 0u32;
    for by in 0..c.own_blocks_h {
        for bx in 0..c.own_blocks_w {
            if restart_interval > 0 {
                if left == 0 {
                    reader.restart();
                    eobrun = 0;
                    left = restart_interval;
                }
                left -= 1;
            }
            let index = by * c.blocks_w + bx;
            let at = index * c.slots;
            let block = c.coefs.get_mut(at..at + c.slots);
            // which coefficients are non-zero so far (kept only when a refinement needs it)
            let mut none = 0;
            let nonzero = c.nonzero.get_mut(index).unwrap_or(&mut none);
            if scan.ah > 0 {
                refine_block(
                    &mut reader,
                    table,
                    band,
                    &c.slot_of,
                    block,
                    nonzero,
                    &mut eobrun,
                )?;
                continue;
            }
            if eobrun > 0 {
                eobrun -= 1;
                continue;
            }
            eobrun = if history {
                ac_first_block_marking(&mut reader, table, band, &c.slot_of, block, nonzero)?
            } else {
                ac_first_block(&mut reader, table, band, &c.slot_of, block)?
            };
        }
        if reader.overrun() {
            return Err(Unsupported::Truncated);
        }
    }
    Ok(reader.end_of_scan())
}

/// An AC scan's spectral band and successive-approximation shift, and the last zigzag
/// position of the component's kept corner.
#[derive(Clone, Copy)]
struct Band {
    ss: usize,
    se: usize,
    al: u8,
    last_kept: usize,
}

/// One block of an AC first scan of a component that keeps [`Component::nonzero`]: every
/// symbol decoded, its position marked, its value stored when it is in the kept corner.
/// Returns the end-of-band run that follows it (blocks to skip).
fn ac_first_block_marking(
    r: &mut BitReader<'_>,
    table: &HuffmanTable,
    band: Band,
    slot_of: &[u8; 64],
    mut block: Option<&mut [i16]>,
    nonzero: &mut u64,
) -> Result<u32, Unsupported> {
    let mut k = band.ss;
    while k <= band.se {
        let (run, value) = match r.ac_fast(table) {
            Some((AC_EOB, _)) => return Ok(0),
            Some(symbol) => symbol,
            None => {
                let rs = r.symbol(table)?;
                let (run, size) = (u32::from(rs >> 4), rs & 15);
                if size == 0 && run < 15 {
                    return Ok(eob_run(r, run));
                }
                (run as usize, r.receive_extend(size)) // ZRL: 15 zeros, then a zero
            }
        };
        k += run;
        if k > band.se {
            return Err(Unsupported::Corrupt);
        }
        if value != 0 {
            *nonzero |= 1 << k;
            store(&mut block, slot_of[k], value << band.al);
        }
        k += 1;
    }
    Ok(0)
}

/// One block of an AC refinement scan (libjpeg's `decode_mcu_AC_refine`, on the kept corner's
/// values and the block's non-zero bits): a correction bit for every coefficient of the band
/// that is already non-zero, and new coefficients of +-2^al where the symbols say. `eobrun`:
/// the blocks left in an end-of-band run (this one included when it is not 0).
fn refine_block(
    r: &mut BitReader<'_>,
    table: &HuffmanTable,
    band: Band,
    slot_of: &[u8; 64],
    mut block: Option<&mut [i16]>,
    nonzero: &mut u64,
    eobrun: &mut u32,
) -> Result<(), Unsupported> {
    let p1 = 1i32 << band.al;
    let mut k = band.ss;
    if *eobrun == 0 {
        while k <= band.se {
            let rs = r.symbol(table)?;
            let (run, size) = (u32::from(rs >> 4), rs & 15);
            let new_value = match size {
                0 if run < 15 => {
                    *eobrun = (1 << run) + r.bits(run);
                    break; // the rest of the band as in an end-of-band run
                }
                0 => 0, // ZRL: past 16 zeros
                1 => {
                    if r.bits(1) == 1 {
                        p1
                    } else {
                        -p1
                    }
                }
                _ => return Err(Unsupported::Corrupt),
            };
            // the zero `run` zeros on, past non-zero coefficients (their correction bits)
            let mut zeros = !*nonzero & positions(k, band.se);
            for _ in 0..run {
                zeros &= zeros.wrapping_sub(1);
            }
            if zeros == 0 {
                if new_value != 0 {
                    return Err(Unsupported::Corrupt);
                }
                // a ZRL running off the band (libjpeg lets it): corrections to its end
                k = band.se + 1;
                break;
            }
            let target = zeros.trailing_zeros() as usize;
            let passed = *nonzero & positions(k, target) & !(1 << target);
            correct(r, &mut block, slot_of, band.last_kept, p1, passed);
            if new_value != 0 {
                *nonzero |= 1 << target;
                store(&mut block, slot_of[target], new_value);
            }
            k = target + 1;
        }
    }
    if *eobrun > 0 {
        correct(
            r,
            &mut block,
            slot_of,
            band.last_kept,
            p1,
            *nonzero & positions(k, band.se),
        );
        *eobrun -= 1;
    }
    Ok(())
}

/// The zigzag positions `from..=to` as bits (none when `from > to`).
#[inline(always)]
fn positions(from: usize, to: usize) -> u64 {
    if from > to || to > 63 {
        return 0;
    }
    (u64::MAX >> (63 - to)) & (u64::MAX << from)
}

/// Reads the correction bits of the non-zero coefficients at the positions `set`, in zigzag
/// order: a 1 adds 2^al to the magnitude of a kept one (once). Positions past the corner
/// (`last_kept`) have no value to correct, so their bits are skipped together.
#[inline(always)]
fn correct(
    r: &mut BitReader<'_>,
    block: &mut Option<&mut [i16]>,
    slot_of: &[u8; 64],
    last_kept: usize,
    p1: i32,
    set: u64,
) {
    // the corner's positions (up to `last_kept`) are the lowest, so their bits come first
    let mut corner = set & positions(0, last_kept);
    while corner != 0 {
        let k = corner.trailing_zeros() as usize;
        corner &= corner - 1;
        if r.bits(1) == 1 && slot_of[k] != NO_SLOT {
            if let Some(v) = block
                .as_deref_mut()
                .and_then(|b| b.get_mut(usize::from(slot_of[k])))
            {
                let x = i32::from(*v);
                if x & p1 == 0 {
                    *v = (if x >= 0 { x + p1 } else { x - p1 }) as i16;
                }
            }
        }
    }
    let rest = set & !positions(0, last_kept);
    let mut skip = rest.count_ones();
    while skip > 0 {
        let n = skip.min(16);
        r.skip(n);
        skip -= n;
    }
}

/// One block of an AC first scan; returns the end-of-band run that follows it (blocks to skip).
#[inline(always)]
fn ac_first_block(
    r: &mut BitReader<'_>,
    table: &HuffmanTable,
    band: Band,
    slot_of: &[u8; 64],
    mut block: Option<&mut [i16]>,
) -> Result<u32, Unsupported> {
    let Band {
        ss,
        se,
        al,
        last_kept,
    } = band;
    let mut k = ss;
    // inside the kept corner: decode and store
    while k <= se.min(last_kept) {
        if let Some((run, value)) = r.ac_fast(table) {
            if run == AC_EOB {
                return Ok(0);
            }
            k += run;
            if k > se {
                return Err(Unsupported::Corrupt);
            }
            store(&mut block, slot_of[k], value << al);
            k += 1;
            continue;
        }
        let rs = r.symbol(table)?;
        let (run, size) = (u32::from(rs >> 4), rs & 15);
        if size == 0 {
            if run < 15 {
                return Ok(eob_run(r, run));
            }
            k += 16;
            continue;
        }
        k += run as usize;
        if k > se {
            return Err(Unsupported::Corrupt);
        }
        store(&mut block, slot_of[k], r.receive_extend(size) << al);
        k += 1;
    }
    // past the corner: skip
    while k <= se {
        if let Some(next) = r.skip_ac(table, k, se + 1) {
            k = next;
            continue;
        }
        let rs = r.symbol(table)?;
        let (run, size) = (u32::from(rs >> 4), rs & 15);
        if size == 0 {
            if run < 15 {
                return Ok(eob_run(r, run));
            }
            k += 16;
            continue;
        }
        r.skip(u32::from(size));
        k += run as usize + 1;
    }
    Ok(0)
}

/// The blocks after this one that an EOBn symbol (n = `run`) ends too.
#[inline(always)]
fn eob_run(r: &mut BitReader<'_>, run: u32) -> u32 {
    ((1 << run) - 1) + r.bits(run)
}

#[inline(always)]
fn store(block: &mut Option<&mut [i16]>, slot: u8, value: i32) {
    if slot != NO_SLOT {
        if let Some(v) = block
            .as_deref_mut()
            .and_then(|b| b.get_mut(usize::from(slot)))
        {
            *v = value as i16;
        }
    }
}

/// Turns the stored coefficients into the planes: each block's mean (DC only) or its reduced
/// IDCT.
pub(super) fn finish(comps: &mut [Component]) {
    for c in comps {
        let stride = c.stride();
        let (kh, kv, slots) = (c.kh, c.kv, c.slots);
        // A missing refinement leaves the DC within [v, v + 2^al - 1]: take the middle. In
        // halves of a quantisation step, so that it stays an integer: dc2 = 2 * dc.
        let missing = (1i32 << c.dc_al) - 1;
        let q0 = c.quant[0];
        // each kept AC position: (its slot, natural index, dequantisation factor)
        let kept: Vec<(usize, usize, i32)> = c
            .slot_of
            .iter()
            .enumerate()
            .skip(1)
            .filter(|&(_, &slot)| slot != NO_SLOT)
            .map(|(z, &slot)| (usize::from(slot), ZIGZAG[z], c.quant[ZIGZAG[z]]))
            .collect();
        let mut coef = [0i32; 64];
        let row_len = slots * c.blocks_w;
        for (by, row) in c.coefs.chunks_exact(row_len).enumerate() {
            for (bx, block) in row.chunks_exact(slots).enumerate() {
                let at = by * kv * stride + bx * kh;
                let dc2 = (2 * i32::from(block[0]) + missing).wrapping_mul(q0);
                if slots == 1 {
                    // the block's mean: dc / 8 + 128, rounded
                    if let Some(px) = c.plane.get_mut(at) {
                        *px = (((dc2 + 8) >> 4) + 128).clamp(0, 255) as u8;
                    }
                    continue;
                }
                coef[0] = (dc2 + 1) >> 1;
                let mut any = 0;
                for &(slot, n, q) in &kept {
                    let v = i32::from(block[slot]);
                    coef[n] = v.wrapping_mul(q);
                    any |= v;
                }
                if let Some(out) = c.plane.get_mut(at..) {
                    idct::block(&coef, any == 0, kh, kv, out, stride);
                }
            }
        }
    }
}
