//! What RTE and EDF say for the whole grid: Tempo colours and prices, EcoWatt signals.

use chrono::NaiveDate;

/// A Tempo day colour, whatever case or language the gateway used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TempoColor {
    Blue,
    White,
    Red,
}

impl TempoColor {
    pub const ALL: [TempoColor; 3] = [Self::Blue, Self::White, Self::Red];

    /// `BLUE`, `blue`, `Bleu`, `BLEU` → blue; likewise white/blanc and red/rouge.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_uppercase().as_str() {
            "BLUE" | "BLEU" => Some(Self::Blue),
            "WHITE" | "BLANC" => Some(Self::White),
            "RED" | "ROUGE" => Some(Self::Red),
            _ => None,
        }
    }

    /// The name the topics use: `BLEU`, `BLANC`, `ROUGE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blue => "BLEU",
            Self::White => "BLANC",
            Self::Red => "ROUGE",
        }
    }
}

/// The colour of one Tempo day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TempoDay {
    pub date: NaiveDate,
    pub color: TempoColor,
}

/// The EcoWatt signal of one day: the day's level, its message and the level of each hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcowattDay {
    pub date: NaiveDate,
    /// 1 green, 2 orange, 3 red, as RTE sends it.
    pub level: u8,
    pub message: Option<String>,
    /// Level of each hour, from 00:00.
    pub hours: Vec<u8>,
}

/// Tempo prices in EUR/kWh (from the options, or as v1 publishes them).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TempoPrices {
    pub blue_hc: Option<f64>,
    pub blue_hp: Option<f64>,
    pub white_hc: Option<f64>,
    pub white_hp: Option<f64>,
    pub red_hc: Option<f64>,
    pub red_hp: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_normalised_whatever_their_case() {
        for (text, color) in [
            ("BLUE", TempoColor::Blue),
            ("blue", TempoColor::Blue),
            ("Bleu", TempoColor::Blue),
            ("WHITE", TempoColor::White),
            ("blanc", TempoColor::White),
            ("RED", TempoColor::Red),
            ("rouge", TempoColor::Red),
        ] {
            assert_eq!(TempoColor::parse(text), Some(color), "{text}");
        }
        assert_eq!(TempoColor::parse("UNKNOWN"), None);
        assert_eq!(TempoColor::Blue.as_str(), "BLEU");
    }
}
