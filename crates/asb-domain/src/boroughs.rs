//! The Metropolitan Police Service's 32 London boroughs: names, ONS codes, rough centres and a
//! few postcode districts each. Facts the project holds itself, so the demo needs no data files.

pub struct Borough {
    pub ons_code: &'static str,
    pub name: &'static str,
    pub lat: f64,
    pub lon: f64,
    pub districts: &'static [&'static str],
}

const fn b(
    ons_code: &'static str,
    name: &'static str,
    lat: f64,
    lon: f64,
    districts: &'static [&'static str],
) -> Borough {
    Borough { ons_code, name, lat, lon, districts }
}

pub const MPS_BOROUGHS: [Borough; 32] = [
    b("E09000002", "Barking and Dagenham", 51.5465, 0.1294, &["IG11", "RM9", "RM10"]),
    b("E09000003", "Barnet", 51.6252, -0.1517, &["N3", "NW7", "EN5", "N12"]),
    b("E09000004", "Bexley", 51.4549, 0.1505, &["DA5", "DA6", "DA7"]),
    b("E09000005", "Brent", 51.5588, -0.2817, &["NW10", "HA9", "NW2"]),
    b("E09000006", "Bromley", 51.4039, 0.0198, &["BR1", "BR2", "BR6"]),
    b("E09000007", "Camden", 51.5290, -0.1255, &["NW1", "NW3", "NW5", "WC1"]),
    b("E09000008", "Croydon", 51.3714, -0.0977, &["CR0", "CR2", "CR7"]),
    b("E09000009", "Ealing", 51.5130, -0.3089, &["W5", "W13", "UB1"]),
    b("E09000010", "Enfield", 51.6538, -0.0799, &["EN1", "EN2", "N9"]),
    b("E09000011", "Greenwich", 51.4892, 0.0648, &["SE10", "SE18", "SE9"]),
    b("E09000012", "Hackney", 51.5450, -0.0553, &["E8", "E5", "N16"]),
    b("E09000013", "Hammersmith and Fulham", 51.4927, -0.2339, &["W6", "SW6", "W12"]),
    b("E09000014", "Haringey", 51.5906, -0.1110, &["N17", "N15", "N8"]),
    b("E09000015", "Harrow", 51.5898, -0.3346, &["HA1", "HA2", "HA3"]),
    b("E09000016", "Havering", 51.5812, 0.1837, &["RM1", "RM3", "RM7"]),
    b("E09000017", "Hillingdon", 51.5441, -0.4760, &["UB8", "UB10", "HA4"]),
    b("E09000018", "Hounslow", 51.4746, -0.3680, &["TW3", "TW4", "TW7"]),
    b("E09000019", "Islington", 51.5416, -0.1022, &["N1", "N7", "N19"]),
    b("E09000020", "Kensington and Chelsea", 51.5020, -0.1947, &["W8", "W10", "SW3"]),
    b("E09000021", "Kingston upon Thames", 51.4123, -0.3007, &["KT1", "KT2", "KT6"]),
    b("E09000022", "Lambeth", 51.4607, -0.1163, &["SW2", "SW9", "SE11"]),
    b("E09000023", "Lewisham", 51.4452, -0.0209, &["SE13", "SE6", "SE4"]),
    b("E09000024", "Merton", 51.4098, -0.2108, &["SW19", "CR4", "SM4"]),
    b("E09000025", "Newham", 51.5255, 0.0352, &["E13", "E6", "E15"]),
    b("E09000026", "Redbridge", 51.5590, 0.0741, &["IG1", "IG2", "E18"]),
    b("E09000027", "Richmond upon Thames", 51.4613, -0.3037, &["TW9", "TW10", "TW1"]),
    b("E09000028", "Southwark", 51.5035, -0.0804, &["SE1", "SE15", "SE5"]),
    b("E09000029", "Sutton", 51.3618, -0.1945, &["SM1", "SM2", "SM3"]),
    b("E09000030", "Tower Hamlets", 51.5099, -0.0059, &["E1", "E14", "E3"]),
    b("E09000031", "Waltham Forest", 51.5908, -0.0134, &["E17", "E4", "E10"]),
    b("E09000032", "Wandsworth", 51.4567, -0.1910, &["SW18", "SW11", "SW17"]),
    b("E09000033", "Westminster", 51.4975, -0.1357, &["W1", "SW1V", "W2"]),
];

/// The borough whose centre is nearest the point: a fallback until boundaries are imported.
pub fn nearest(lat: f64, lon: f64) -> &'static Borough {
    let d = |b: &Borough| {
        let dx = (b.lon - lon) * lat.to_radians().cos();
        let dy = b.lat - lat;
        dx * dx + dy * dy
    };
    MPS_BOROUGHS.iter().min_by(|a, b| d(a).total_cmp(&d(b))).unwrap_or(&MPS_BOROUGHS[0])
}

/// The borough that uses a postcode district, when one does.
pub fn by_district(district: &str) -> Option<&'static Borough> {
    MPS_BOROUGHS.iter().find(|b| b.districts.iter().any(|d| d.eq_ignore_ascii_case(district)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_two_distinct_boroughs() {
        let mut codes: Vec<_> = MPS_BOROUGHS.iter().map(|b| b.ons_code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), 32);
        assert!(!codes.contains(&"E09000001"), "the City of London has its own force");
    }

    #[test]
    fn nearest_centre() {
        assert_eq!(nearest(51.5416, -0.1022).name, "Islington");
        assert_eq!(by_district("nw1").map(|b| b.name), Some("Camden"));
    }
}
