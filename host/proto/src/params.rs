//! Thumbnail parameters of a registration, and the plugin arguments they become.

use serde::{Deserialize, Serialize};

/// How the thumbnail fills its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Fit inside the box, keeping the aspect ratio.
    #[default]
    Contain,
    /// Cover the box and centre-crop.
    Cover,
}

/// The thumbnail's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Jpeg,
    Png,
}

impl Fit {
    pub fn as_str(self) -> &'static str {
        match self {
            Fit::Contain => "contain",
            Fit::Cover => "cover",
        }
    }
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
        }
    }
}

/// The parameters of one thumbnail (DESIGN §6 defaults: 256 x 256, contain, JPEG quality 80).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub width: u32,
    pub height: u32,
    pub fit: Fit,
    pub format: Format,
    pub quality: u8,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            width: 256,
            height: 256,
            fit: Fit::Contain,
            format: Format::Jpeg,
            quality: 80,
        }
    }
}

/// The largest thumbnail side accepted.
pub const MAX_SIDE: u32 = 16_384;

/// Why parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("{which} must be between 1 and {MAX_SIDE}, got {value}")]
    Side { which: &'static str, value: u32 },
    #[error("quality must be between 1 and 100, got {0}")]
    Quality(u8),
}

impl Params {
    pub fn validate(&self) -> Result<(), ParamsError> {
        for (which, value) in [("width", self.width), ("height", self.height)] {
            if value == 0 || value > MAX_SIDE {
                return Err(ParamsError::Side { which, value });
            }
        }
        if self.quality == 0 || self.quality > 100 {
            return Err(ParamsError::Quality(self.quality));
        }
        Ok(())
    }

    /// The plugin's argv (ABI v1): `--width W --height H --fit F --format F --quality Q`.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--width".into(),
            self.width.to_string(),
            "--height".into(),
            self.height.to_string(),
            "--fit".into(),
            self.fit.as_str().into(),
            "--format".into(),
            self.format.as_str().into(),
            "--quality".into(),
            self.quality.to_string(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_fill_missing_fields() {
        let p: Params = serde_json::from_value(json!({"width": 128})).unwrap();
        assert_eq!(
            p,
            Params {
                width: 128,
                ..Params::default()
            }
        );
    }

    #[test]
    fn args_follow_the_abi() {
        let p = Params {
            width: 100,
            height: 50,
            fit: Fit::Cover,
            format: Format::Png,
            quality: 90,
        };
        assert_eq!(
            p.args().join(" "),
            "--width 100 --height 50 --fit cover --format png --quality 90"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Params::default().validate().is_ok());
        let zero = Params {
            width: 0,
            ..Params::default()
        };
        assert!(matches!(
            zero.validate(),
            Err(ParamsError::Side { which: "width", .. })
        ));
        let q = Params {
            quality: 101,
            ..Params::default()
        };
        assert_eq!(q.validate(), Err(ParamsError::Quality(101)));
        assert!(serde_json::from_value::<Params>(json!({"fit": "stretch"})).is_err());
        assert!(serde_json::from_value::<Params>(json!({"colour": "red"})).is_err());
    }
}
