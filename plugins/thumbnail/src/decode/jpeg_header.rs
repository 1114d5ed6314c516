//! The few facts of a JPEG's frame header (SOF) that jpeg-decoder does not expose: each
//! component's sampling factors, which decide how far chroma may be shrunk on load.

/// One component of the frame: its sampling factors (1-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Component {
    pub h: u8,
    pub v: u8,
}

/// The frame header's size and components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub width: u16,
    pub height: u16,
    pub components: Vec<Component>,
}

impl Frame {
    /// How many times the least sampled component is coarser than the full grid, across and
    /// down (1 for 4:4:4 and gray, (2, 2) for 4:2:0).
    pub fn max_subsampling(&self) -> (u32, u32) {
        let hmax = self
            .components
            .iter()
            .map(|c| c.h)
            .max()
            .unwrap_or(1)
            .max(1);
        let vmax = self
            .components
            .iter()
            .map(|c| c.v)
            .max()
            .unwrap_or(1)
            .max(1);
        let hmin = self
            .components
            .iter()
            .map(|c| c.h)
            .min()
            .unwrap_or(1)
            .max(1);
        let vmin = self
            .components
            .iter()
            .map(|c| c.v)
            .min()
            .unwrap_or(1)
            .max(1);
        (u32::from(hmax / hmin), u32::from(vmax / vmin))
    }
}

/// Walks the markers from SOI to the first frame header. `None` when there is none to be found
/// (the real decoder then reports what is wrong).
pub(crate) fn read_frame(input: &[u8]) -> Option<Frame> {
    let mut i = 2; // after SOI
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while *input.get(i)? == 0xFF && *input.get(i + 1)? == 0xFF {
            i += 1;
        }
        if *input.get(i)? != 0xFF {
            return None;
        }
        let marker = *input.get(i + 1)?;
        let len = usize::from(u16::from_be_bytes([*input.get(i + 2)?, *input.get(i + 3)?]));
        let is_sof = (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker);
        if is_sof {
            let seg = input.get(i + 4..i + 2 + len)?;
            let height = u16::from_be_bytes([*seg.get(1)?, *seg.get(2)?]);
            let width = u16::from_be_bytes([*seg.get(3)?, *seg.get(4)?]);
            let count = usize::from(*seg.get(5)?);
            let components = (0..count)
                .map(|k| {
                    let factors = *seg.get(6 + 3 * k + 1)?;
                    Some(Component {
                        h: factors >> 4,
                        v: factors & 0x0F,
                    })
                })
                .collect::<Option<Vec<_>>>()?;
            return Some(Frame {
                width,
                height,
                components,
            });
        }
        if marker == 0xDA || marker == 0xD9 || len < 2 {
            return None; // a scan or the end before any frame
        }
        i += 2 + len;
    }
}
