//! The data.police.uk street-level CSV format: its 12 columns, what makes a row valid, and the
//! key that makes importing the same row twice add nothing. No I/O: the CLI reads the files and
//! the store keeps the rows.
//!
//! ASB rows carry no Crime ID and several rows of a month can be identical (two reports "On or
//! near" the same street in the same LSOA), so a row's identity is its content plus how many
//! identical rows came before it in the same file.

use crate::matching::{to_i64, GeoPoint, CELL_RESOLUTION};
use h3o::{CellIndex, LatLng, Resolution};
use sha2::{Digest, Sha256};

/// The header of every street-level file, in order.
pub const COLUMNS: [&str; 12] = [
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
];

/// The `Crime type` of anti-social behaviour.
pub const ASB: &str = "Anti-social behaviour";

/// The `Reported by` of British Transport Police rows, which police.uk files under the force
/// whose area they fall within.
pub const BTP: &str = "British Transport Police";

/// Coordinates outside this box (the UK and its waters) are errors, not places.
const UK_LAT: (f64, f64) = (49.8, 60.95);
const UK_LON: (f64, f64) = (-8.7, 1.8);

/// One valid row, borrowing the file's text.
#[derive(Debug, Clone, PartialEq)]
pub struct StreetRow<'a> {
    pub crime_id: Option<&'a str>,
    /// `YYYY-MM`.
    pub month: &'a str,
    pub reported_by: &'a str,
    pub falls_within: &'a str,
    /// (latitude, longitude); `None` for police.uk's "no location" rows.
    pub point: Option<(f64, f64)>,
    pub location: Option<&'a str>,
    pub lsoa_code: Option<&'a str>,
    pub lsoa_name: Option<&'a str>,
    pub crime_type: &'a str,
    pub outcome: Option<&'a str>,
    pub context: Option<&'a str>,
}

impl StreetRow<'_> {
    pub fn is_asb(&self) -> bool {
        self.crime_type == ASB
    }

    pub fn is_btp(&self) -> bool {
        self.reported_by == BTP
    }

    /// The fields that say which report this is. The outcome and context are left out: police.uk
    /// updates outcomes in later downloads of the same month, and that is the same row.
    fn identity(&self) -> [&str; 7] {
        [
            self.crime_id.unwrap_or(""),
            self.month,
            self.reported_by,
            self.falls_within,
            self.location.unwrap_or(""),
            self.lsoa_code.unwrap_or(""),
            self.crime_type,
        ]
    }

    /// The 128-bit idempotency key of this row, the `occurrence`-th (from 0) of its identical
    /// rows in its file (or a quarantined row's own tag, when retried).
    pub fn key(&self, occurrence: &str) -> (i64, i64) {
        let mut h = Sha256::new();
        for f in self.identity() {
            h.update(f.as_bytes());
            h.update([0x1f]);
        }
        if let Some((lat, lon)) = self.point {
            // Coordinates by value, so "51.5" and "51.500000" are one place.
            h.update(lat.to_bits().to_le_bytes());
            h.update(lon.to_bits().to_le_bytes());
        }
        h.update([0x1e]);
        h.update(occurrence.as_bytes());
        let d = h.finalize();
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        // The month leads the key, so one file's rows land together in the key index instead of
        // all over it (a random 128-bit key made every file's transaction rewrite most of the
        // index); 96 bits of hash stay.
        let month: u64 = self.month.bytes().filter(u8::is_ascii_digit).fold(0, |m, b| m * 10 + u64::from(b - b'0'));
        let hi = (month << 32) | (word(&d[..8]) >> 32);
        (hi as i64, word(&d[8..16]) as i64)
    }
}

/// Where each of the 12 columns is in a file's header (files are written in the standard order,
/// but a reordered or extended header is read by name).
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    at: [usize; 12],
    width: usize,
}

impl Layout {
    /// The layout of a header row, or what is missing from it.
    pub fn from_header<'a>(header: impl IntoIterator<Item = &'a str>) -> Result<Layout, String> {
        let names: Vec<&str> = header.into_iter().map(|h| h.trim_start_matches('\u{feff}').trim()).collect();
        let mut at = [0; 12];
        let mut missing = Vec::new();
        for (i, col) in COLUMNS.iter().enumerate() {
            match names.iter().position(|n| n.eq_ignore_ascii_case(col)) {
                Some(p) => at[i] = p,
                None => missing.push(*col),
            }
        }
        if missing.is_empty() {
            Ok(Layout { at, width: names.len() })
        } else {
            Err(format!("not a police.uk street-level file: no {} column", missing.join(", no ")))
        }
    }

    /// The standard layout, for rows with no header of their own (a retried quarantined row).
    pub fn standard() -> Layout {
        Layout { at: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], width: 12 }
    }

    /// How many fields a row of this file has.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Whether a row of the right width is of another crime type than ASB: such rows are counted
    /// and skipped without reading the rest of the row.
    pub fn is_other_crime(&self, crime_type: &[u8]) -> bool {
        crime_type.trim_ascii() != ASB.as_bytes()
    }

    /// Where the `Crime type` field is.
    pub fn crime_type_at(&self) -> usize {
        self.at[9]
    }

    /// Read one row of fields; the error says what is wrong with it.
    pub fn parse<'a>(&self, fields: &[&'a str]) -> Result<StreetRow<'a>, String> {
        if fields.len() != self.width {
            return Err(format!("expected {} fields, found {}", self.width, fields.len()));
        }
        let f = |i: usize| fields[self.at[i]].trim();
        let opt = |i: usize| Some(f(i)).filter(|s| !s.is_empty());
        let month = f(1);
        check_month(month)?;
        let required = |i: usize| opt(i).ok_or_else(|| format!("{} is blank", COLUMNS[i]));
        let (reported_by, falls_within, crime_type) = (required(2)?, required(3)?, required(9)?);
        let point = match (opt(5), opt(4)) {
            (None, None) => None,
            (Some(lat), Some(lon)) => Some(check_point(lat, lon)?),
            (Some(_), None) => return Err("Latitude is given but Longitude is blank".into()),
            (None, Some(_)) => return Err("Longitude is given but Latitude is blank".into()),
        };
        Ok(StreetRow {
            crime_id: opt(0),
            month,
            reported_by,
            falls_within,
            point,
            location: opt(6),
            lsoa_code: opt(7),
            lsoa_name: opt(8),
            crime_type,
            outcome: opt(10),
            context: opt(11),
        })
    }
}

/// `YYYY-MM`, or what is wrong with it.
pub fn check_month(month: &str) -> Result<(), String> {
    let ok = month.len() == 7
        && month.as_bytes()[4] == b'-'
        && month[..4].parse::<u16>().is_ok_and(|y| (1990..=2999).contains(&y))
        && month[5..].parse::<u8>().is_ok_and(|m| (1..=12).contains(&m));
    if ok {
        Ok(())
    } else {
        Err(format!("Month {month:?} is not YYYY-MM"))
    }
}

fn check_point(lat: &str, lon: &str) -> Result<(f64, f64), String> {
    let num = |s: &str, what: &str| s.parse::<f64>().map_err(|_| format!("{what} {s:?} is not a number"));
    let (la, lo) = (num(lat, "Latitude")?, num(lon, "Longitude")?);
    if !(UK_LAT.0..=UK_LAT.1).contains(&la) || !(UK_LON.0..=UK_LON.1).contains(&lo) {
        return Err(format!("Latitude {lat}, Longitude {lon} is not in the UK"));
    }
    Ok((la, lo))
}

/// How an exported location is generalised, as police.uk does for its map points: a record is
/// shown at the centre of the H3 cell (resolution 9, about 0.1 km²) it lies in when asb knows of
/// at least [`MIN_ADDRESSES`] addresses in that cell, else at the centre of the wider cell
/// (resolution 8, about 0.7 km²) around it. The street is named only in the first case.
pub const PUBLIC_CELL: Resolution = Resolution::Nine;
pub const WIDER_CELL: Resolution = Resolution::Eight;
pub const MIN_ADDRESSES: i64 = 8;

/// The public cell of a point, and the range of the resolution-11 cells (as stored, see
/// `matching::to_i64`) inside it, for counting the addresses there with one index range.
pub fn public_cell(p: &GeoPoint) -> (CellIndex, (i64, i64)) {
    let cell = CellIndex::try_from(p.cell()).ok().and_then(|c| c.parent(PUBLIC_CELL));
    // `p.cell()` is a valid cell and resolution 9 is coarser than 11, so both always succeed.
    let cell = cell.unwrap_or_else(|| unreachable!("a resolution-11 cell has a resolution-9 parent"));
    let mut children = cell.children(CELL_RESOLUTION);
    let first = children.next().map_or(0, |c| to_i64(u64::from(c)));
    let last = children.last().map_or(first, |c| to_i64(u64::from(c)));
    (cell, (first, last))
}

/// Where an exported record is shown, and whether its street may be named.
pub fn public_point(cell: CellIndex, addresses_in_cell: i64) -> ((f64, f64), bool) {
    let shown = if addresses_in_cell >= MIN_ADDRESSES { cell } else { cell.parent(WIDER_CELL).unwrap_or(cell) };
    let c = LatLng::from(shown);
    ((c.lat(), c.lng()), addresses_in_cell >= MIN_ADDRESSES)
}

/// police.uk's location text for an exported record: "On or near" the street of its address
/// (house numbers and flats dropped), when the street may be named.
pub fn public_location(address: Option<&str>, name_street: bool) -> String {
    let street = address.filter(|_| name_street).and_then(|a| {
        let words: Vec<&str> = a
            .split(',')
            .flat_map(str::split_whitespace)
            .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
            .filter(|w| !["flat", "apartment", "apt", "unit"].contains(&w.to_ascii_lowercase().as_str()))
            .collect();
        (!words.is_empty()).then(|| words.join(" "))
    });
    street.map_or_else(|| "On or near a public place".to_string(), |s| format!("On or near {s}"))
}

/// A file's rows, one record per row, for writing: the standard 12 fields.
pub fn record(row: &StreetRow<'_>) -> [String; 12] {
    let (lat, lon) =
        row.point.map_or((String::new(), String::new()), |(la, lo)| (format!("{la:.6}"), format!("{lo:.6}")));
    let s = |v: Option<&str>| v.unwrap_or("").to_string();
    [
        s(row.crime_id),
        row.month.to_string(),
        row.reported_by.to_string(),
        row.falls_within.to_string(),
        lon,
        lat,
        s(row.location),
        s(row.lsoa_code),
        s(row.lsoa_name),
        row.crime_type.to_string(),
        s(row.outcome),
        s(row.context),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: [&str; 12] = [
        "",
        "2020-04",
        "Merseyside Police",
        "Merseyside Police",
        "-2.747770",
        "53.389499",
        "On or near Cronton Road",
        "E01012393",
        "Halton 001B",
        "Anti-social behaviour",
        "",
        "",
    ];

    #[test]
    fn a_standard_row_reads() {
        let r = Layout::standard().parse(&ROW).unwrap();
        assert!(r.is_asb() && !r.is_btp());
        assert_eq!(r.point, Some((53.389499, -2.74777)));
        assert_eq!((r.crime_id, r.outcome, r.lsoa_name), (None, None, Some("Halton 001B")));
    }

    #[test]
    fn the_header_is_read_by_name() {
        let mut h: Vec<&str> = COLUMNS.to_vec();
        h.swap(4, 5);
        h.push("Extra");
        let l = Layout::from_header(h).unwrap();
        let mut row: Vec<&str> = ROW.to_vec();
        row.swap(4, 5);
        row.push("x");
        assert_eq!(l.parse(&row).unwrap().point, Some((53.389499, -2.74777)));
        let e = Layout::from_header(["Crime ID", "Month", "Falls within"]).unwrap_err();
        assert!(e.contains("no Reported by") && e.contains("no Context"), "{e}");
    }

    #[test]
    fn bad_rows_say_what_is_wrong() {
        let bad = |i: usize, v: &str| {
            let mut r = ROW;
            r[i] = v;
            Layout::standard().parse(&r).unwrap_err()
        };
        assert_eq!(bad(1, "2020-13"), "Month \"2020-13\" is not YYYY-MM");
        assert_eq!(bad(1, "April"), "Month \"April\" is not YYYY-MM");
        assert_eq!(bad(3, " "), "Falls within is blank");
        assert_eq!(bad(9, ""), "Crime type is blank");
        assert_eq!(bad(5, "north"), "Latitude \"north\" is not a number");
        assert_eq!(bad(5, ""), "Longitude is given but Latitude is blank");
        assert_eq!(bad(5, "40.7"), "Latitude 40.7, Longitude -2.747770 is not in the UK");
        assert_eq!(Layout::standard().parse(&ROW[..11]).unwrap_err(), "expected 12 fields, found 11");
    }

    #[test]
    fn no_location_rows_are_kept() {
        let mut r = ROW;
        (r[4], r[5], r[6]) = ("", "", "No Location");
        assert_eq!(Layout::standard().parse(&r).unwrap().point, None);
    }

    #[test]
    fn identical_rows_differ_only_by_occurrence_and_outcomes_do_not_count() {
        let a = Layout::standard().parse(&ROW).unwrap();
        assert_eq!(a.key("0"), a.key("0"));
        assert_ne!(a.key("0"), a.key("1"));
        let mut later = ROW;
        later[10] = "Investigation complete; no suspect identified";
        later[4] = "-2.74777";
        assert_eq!(Layout::standard().parse(&later).unwrap().key("0"), a.key("0"));
        let mut elsewhere = ROW;
        elsewhere[6] = "On or near Elsewhere";
        assert_ne!(Layout::standard().parse(&elsewhere).unwrap().key("0"), a.key("0"));
    }

    #[test]
    fn an_exported_point_is_a_cell_centre_and_the_wider_one_below_eight_addresses() {
        let home = GeoPoint::new(51.5290, -0.1255).unwrap();
        let (cell, (lo, hi)) = public_cell(&home);
        assert_eq!(cell.resolution(), PUBLIC_CELL);
        let own = to_i64(home.cell());
        assert!(lo <= own && own <= hi, "the point's own cell is in its public cell's range");
        let ((lat, lon), named) = public_point(cell, MIN_ADDRESSES);
        assert!(named);
        let centre = GeoPoint::new(lat, lon).unwrap();
        assert!(home.distance_m(&centre) < 400.0 && home.distance_m(&centre) > 0.0);
        assert_eq!(CellIndex::try_from(centre.cell()).unwrap().parent(PUBLIC_CELL), Some(cell));
        let ((wlat, wlon), named) = public_point(cell, MIN_ADDRESSES - 1);
        assert!(!named);
        let wide = GeoPoint::new(wlat, wlon).unwrap();
        assert_ne!((wlat, wlon), (lat, lon));
        assert_eq!(CellIndex::try_from(wide.cell()).unwrap().parent(WIDER_CELL), cell.parent(WIDER_CELL));
    }

    #[test]
    fn the_location_names_the_street_only_without_numbers() {
        assert_eq!(public_location(Some("Flat 3, 12 Acacia Avenue"), true), "On or near Acacia Avenue");
        assert_eq!(public_location(Some("12a High Street"), true), "On or near High Street");
        assert_eq!(public_location(Some("12 Acacia Avenue"), false), "On or near a public place");
        assert_eq!(public_location(None, true), "On or near a public place");
    }

    #[test]
    fn a_record_round_trips() {
        let a = Layout::standard().parse(&ROW).unwrap();
        let rec = record(&a);
        let fields: Vec<&str> = rec.iter().map(String::as_str).collect();
        assert_eq!(Layout::standard().parse(&fields).unwrap(), a);
    }
}
