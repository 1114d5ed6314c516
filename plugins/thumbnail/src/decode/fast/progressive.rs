//! Progressive JPEGs, read only as far as the scale needs.
//!
//! - When every component keeps one pixel per block (DC only: 1/8, or 1/4 of 4:2:0 chroma...),
//!   the first DC scan of each component is the whole answer: reading stops there, the AC scans
//!   and any DC refinement after them are never touched (a missing refinement bit is taken as
//!   the middle of the interval it leaves open, at most half a quantisation step of the DC).
//! - Otherwise (1/4, 1/2) the coefficients of each block's kept corner are collected: DC scans,
//!   and AC first scans whose band starts inside the corner (symbols past the corner skipped
//!   undecoded); AC scans whose band starts past the corner are skipped unread. An AC
//!   refinement scan inside the corner needs the whole band's history, so such files (libjpeg's
//!   default script has them) are left to jpeg-decoder: the scan headers are checked before any
//!   entropy-coded data is read, so nothing is decoded twice.

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
    if !dc_only && refines_kept_ac(input, data, frame, comps)? {
        return Err(Unsupported::Progressive);
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
            if usize::from(scan.ss) > comps[ci].last_kept || dc_only {
                next_marker(input, data) // a band past the kept corner: unread
            } else if scan.ah > 0 {
                return Err(Unsupported::Progressive); // found by refines_kept_ac already
            } else {
                let table = tables.ac[ta].as_ref().ok_or(Unsupported::Corrupt)?;
                ac_first_scan(
                    input,
                    data,
                    &scan,
                    tables.restart_interval,
                    table,
                    &mut comps[ci],
                )?
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

/// Whether any AC refinement scan (successive approximation, Ah > 0) of the file touches a
/// coefficient the scale keeps. Reads only the marker segments between scans.
fn refines_kept_ac(
    input: &[u8],
    first_data: usize,
    frame: &Frame,
    comps: &[Component],
) -> Result<bool, Unsupported> {
    let mut headers = Tables {
        frame: Some(frame.clone()),
        ..Tables::default()
    };
    let mut pos = next_marker(input, first_data);
    loop {
        match read_until_scan(input, pos, &mut headers)? {
            Next::Scan(scan, data) => {
                let kept = |&(ci, _, _): &(usize, usize, usize)| {
                    comps
                        .get(ci)
                        .is_some_and(|c| usize::from(scan.ss) <= c.last_kept)
                };
                if scan.ss > 0 && scan.ah > 0 && scan.components.iter().any(kept) {
                    return Ok(true);
                }
                pos = next_marker(input, data);
            }
            Next::End => return Ok(false),
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

/// Reads one AC first scan (one component, band `ss..=se`, values shifted by `al`), storing
/// the coefficients in the kept corner and skipping the others undecoded; returns where the
/// next marker is.
fn ac_first_scan(
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
            if eobrun > 0 {
                eobrun -= 1;
                continue;
            }
            let at = (by * c.blocks_w + bx) * c.slots;
            let block = c.coefs.get_mut(at..at + c.slots);
            eobrun = ac_first_block(
                &mut reader,
                table,
                ss,
                se,
                scan.al,
                c.last_kept,
                &c.slot_of,
                block,
            )?;
        }
        if reader.overrun() {
            return Err(Unsupported::Truncated);
        }
    }
    Ok(reader.end_of_scan())
}

/// One block of an AC first scan; returns the end-of-band run that follows it (blocks to skip).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn ac_first_block(
    r: &mut BitReader<'_>,
    table: &HuffmanTable,
    ss: usize,
    se: usize,
    al: u8,
    last_kept: usize,
    slot_of: &[u8; 64],
    mut block: Option<&mut [i16]>,
) -> Result<u32, Unsupported> {
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
