//! The marker segments of a JPEG up to and between its scans: quantisation and Huffman
//! tables, the frame, restart interval, Adobe transform and the scan headers.

use super::huffman::HuffmanTable;
use super::Unsupported;

/// One component of the frame.
#[derive(Debug, Clone)]
pub(crate) struct FrameComponent {
    pub id: u8,
    pub h: usize,
    pub v: usize,
    pub tq: usize,
}

/// The frame header (SOF0, SOF1 or SOF2).
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub progressive: bool,
    pub width: usize,
    pub height: usize,
    pub components: Vec<FrameComponent>,
}

impl Frame {
    pub fn hmax(&self) -> usize {
        self.components.iter().map(|c| c.h).max().unwrap_or(1)
    }
    pub fn vmax(&self) -> usize {
        self.components.iter().map(|c| c.v).max().unwrap_or(1)
    }
    /// MCUs across and down of an interleaved scan.
    pub fn mcus(&self) -> (usize, usize) {
        (
            self.width.div_ceil(8 * self.hmax()),
            self.height.div_ceil(8 * self.vmax()),
        )
    }
}

/// A scan header: the frame components it codes (by index), their table selectors, and the
/// spectral selection and successive approximation of a progressive scan.
#[derive(Debug, Clone)]
pub(crate) struct Scan {
    /// (frame component index, DC table, AC table)
    pub components: Vec<(usize, usize, usize)>,
    pub ss: u8,
    pub se: u8,
    pub ah: u8,
    pub al: u8,
}

/// Everything read from the segments so far.
#[derive(Default)]
pub(crate) struct Tables {
    /// Quantisation tables in zigzag order.
    pub quant: [Option<[u16; 64]>; 4],
    pub dc: [Option<HuffmanTable>; 4],
    pub ac: [Option<HuffmanTable>; 4],
    pub restart_interval: usize,
    pub frame: Option<Frame>,
    /// The Adobe APP14 transform flag, if that segment is present.
    pub adobe_transform: Option<u8>,
}

/// What the next marker is, once the segments before it are read.
pub(crate) enum Next {
    /// A scan, whose entropy-coded data starts at the given offset.
    Scan(Scan, usize),
    /// EOI, or the data ended at a marker boundary.
    End,
}

/// Reads segments from `pos` (at a marker) until the next scan or the end.
pub(crate) fn read_until_scan(
    input: &[u8],
    mut pos: usize,
    tables: &mut Tables,
) -> Result<Next, Unsupported> {
    loop {
        // fill bytes, then the marker
        while input.get(pos) == Some(&0xFF) && input.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (input.get(pos), input.get(pos + 1)) else {
            return Ok(Next::End);
        };
        pos += 2;
        match marker {
            0xD8 | 0x01 | 0xD0..=0xD7 => continue, // SOI, TEM, stray RSTn: no segment
            0xD9 => return Ok(Next::End),
            _ => {}
        }
        let len = match (input.get(pos), input.get(pos + 1)) {
            (Some(&a), Some(&b)) => usize::from(u16::from_be_bytes([a, b])),
            _ => return Err(Unsupported::Truncated),
        };
        let seg = input
            .get(pos + 2..pos + len.max(2))
            .ok_or(Unsupported::Truncated)?;
        match marker {
            0xC0..=0xC2 => tables.frame = Some(frame(seg, marker == 0xC2)?),
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return Err(Unsupported::Coding),
            0xC4 => huffman_tables(seg, tables)?,
            0xDB => quant_tables(seg, tables)?,
            0xDD => {
                let ri = seg.get(..2).ok_or(Unsupported::Corrupt)?;
                tables.restart_interval = usize::from(u16::from_be_bytes([ri[0], ri[1]]));
            }
            0xEE if seg.starts_with(b"Adobe") && seg.len() >= 12 => {
                tables.adobe_transform = Some(seg[11]);
            }
            0xDA => return Ok(Next::Scan(scan(seg, tables)?, pos + len)),
            _ => {} // APPn, COM, DNL...: nothing needed here
        }
        pos += len;
    }
}

fn frame(seg: &[u8], progressive: bool) -> Result<Frame, Unsupported> {
    if seg.first() != Some(&8) {
        return Err(Unsupported::Precision);
    }
    let b = |i: usize| seg.get(i).copied().ok_or(Unsupported::Corrupt);
    let height = usize::from(u16::from_be_bytes([b(1)?, b(2)?]));
    let width = usize::from(u16::from_be_bytes([b(3)?, b(4)?]));
    let count = usize::from(b(5)?);
    if height == 0 || width == 0 || !(count == 1 || count == 3) {
        return Err(Unsupported::Components);
    }
    let components = (0..count)
        .map(|k| {
            let at = 6 + 3 * k;
            let (h, v) = (usize::from(b(at + 1)? >> 4), usize::from(b(at + 1)? & 15));
            let tq = usize::from(b(at + 2)?);
            if !(1..=4).contains(&h) || !(1..=4).contains(&v) || tq > 3 {
                return Err(Unsupported::Corrupt);
            }
            Ok(FrameComponent {
                id: b(at)?,
                h,
                v,
                tq,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Frame {
        progressive,
        width,
        height,
        components,
    })
}

fn huffman_tables(mut seg: &[u8], tables: &mut Tables) -> Result<(), Unsupported> {
    while !seg.is_empty() {
        let tc_th = seg[0];
        let counts: [u8; 16] = seg
            .get(1..17)
            .and_then(|c| c.try_into().ok())
            .ok_or(Unsupported::Corrupt)?;
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        let values = seg.get(17..17 + total).ok_or(Unsupported::Corrupt)?;
        let table = HuffmanTable::new(&counts, values).ok_or(Unsupported::Corrupt)?;
        let slot = usize::from(tc_th & 0x0F);
        match (tc_th >> 4, slot) {
            (0, 0..=3) => tables.dc[slot] = Some(table),
            (1, 0..=3) => tables.ac[slot] = Some(table),
            _ => return Err(Unsupported::Corrupt),
        }
        seg = &seg[17 + total..];
    }
    Ok(())
}

fn quant_tables(mut seg: &[u8], tables: &mut Tables) -> Result<(), Unsupported> {
    while !seg.is_empty() {
        let (pq, tq) = (seg[0] >> 4, usize::from(seg[0] & 0x0F));
        if tq > 3 {
            return Err(Unsupported::Corrupt);
        }
        let mut q = [0u16; 64];
        let used = if pq == 0 {
            let v = seg.get(1..65).ok_or(Unsupported::Corrupt)?;
            for (d, &s) in q.iter_mut().zip(v) {
                *d = u16::from(s);
            }
            65
        } else {
            let v = seg.get(1..129).ok_or(Unsupported::Corrupt)?;
            for (d, s) in q.iter_mut().zip(v.chunks_exact(2)) {
                *d = u16::from_be_bytes([s[0], s[1]]);
            }
            129
        };
        tables.quant[tq] = Some(q);
        seg = &seg[used..];
    }
    Ok(())
}

fn scan(seg: &[u8], tables: &Tables) -> Result<Scan, Unsupported> {
    let frame = tables.frame.as_ref().ok_or(Unsupported::Corrupt)?;
    let b = |i: usize| seg.get(i).copied().ok_or(Unsupported::Corrupt);
    let count = usize::from(b(0)?);
    if count == 0 || count > 4 {
        return Err(Unsupported::Corrupt);
    }
    let components = (0..count)
        .map(|k| {
            let id = b(1 + 2 * k)?;
            let tables = b(2 + 2 * k)?;
            let index = frame
                .components
                .iter()
                .position(|c| c.id == id)
                .ok_or(Unsupported::Corrupt)?;
            let (td, ta) = (usize::from(tables >> 4), usize::from(tables & 15));
            if td > 3 || ta > 3 {
                return Err(Unsupported::Corrupt);
            }
            Ok((index, td, ta))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let at = 1 + 2 * count;
    let approx = b(at + 2)?;
    Ok(Scan {
        components,
        ss: b(at)?,
        se: b(at + 1)?,
        ah: approx >> 4,
        al: approx & 15,
    })
}
