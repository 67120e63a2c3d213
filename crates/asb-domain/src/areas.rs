//! Area boundaries (boroughs, local authority districts) and placing a point in its area.
//!
//! Incidents arrive with a latitude and longitude, from imports and from call handlers. Where a
//! force has imported its boundaries (ONS GeoJSON, read by the caller and passed in as text),
//! this places each incident in its borough by point-in-polygon, rather than by the nearest
//! borough centre in `boroughs.rs`, which is wrong near every boundary. Pure: no I/O.
//!
//! Coordinates are WGS84 degrees. Public functions take and return latitude first, as the rest of
//! the project does; GeoJSON and the rings held here are longitude first, as (lon, lat).

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::marker::PhantomData;
use thiserror::Error;

/// A ring of (lon, lat) positions. GeoJSON closes rings by repeating the first position; an
/// unclosed ring is treated as closed, since the crossing test wraps round either way.
type Ring = Vec<(f64, f64)>;

/// One polygon: an outer ring and any holes, with its own bounding box so that the parts of a
/// MultiPolygon (Richmond has eight) are skipped cheaply.
#[derive(Debug, Clone, PartialEq)]
struct Polygon {
    outer: Ring,
    holes: Vec<Ring>,
    bbox: BBox,
}

/// (min_lat, min_lon, max_lat, max_lon).
type BBox = (f64, f64, f64, f64);

impl Polygon {
    fn new(outer: Ring, holes: Vec<Ring>) -> Self {
        let bbox = ring_bbox(&outer);
        Polygon { outer, holes, bbox }
    }

    fn contains(&self, lat: f64, lon: f64) -> bool {
        in_bbox(self.bbox, lat, lon)
            && ring_contains(&self.outer, lat, lon)
            && !self.holes.iter().any(|h| ring_contains(h, lat, lon))
    }

    /// Net area (outer less holes, in square degrees) and its centroid as (lon, lat).
    fn area_and_centroid(&self) -> (f64, (f64, f64)) {
        // Moments are taken about the corner of the bounding box: the coordinates are then small,
        // and the shoelace sums lose less to cancellation.
        let origin = (self.bbox.1, self.bbox.0);
        let (mut a, mut mx, mut my) = ring_moments(&self.outer, origin);
        for hole in &self.holes {
            let (ha, hx, hy) = ring_moments(hole, origin);
            a -= ha;
            mx -= hx;
            my -= hy;
        }
        if !a.is_normal() {
            // Degenerate (no area): the middle of the box is the best answer left.
            let (s, w, n, e) = self.bbox;
            return (0.0, ((w + e) / 2.0, (s + n) / 2.0));
        }
        (a, (origin.0 + mx / a, origin.1 + my / a))
    }
}

/// An area such as a borough: its code (e.g. ONS `E09000007`), name, and boundary.
#[derive(Clone, PartialEq)]
pub struct Area {
    pub code: String,
    pub name: String,
    polygons: Vec<Polygon>,
    bbox: BBox,
}

// By hand, so that a failing assertion prints the area rather than thousands of positions.
impl fmt::Debug for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Area")
            .field("code", &self.code)
            .field("name", &self.name)
            .field("polygons", &self.polygons.len())
            .field("bbox", &self.bbox)
            .finish()
    }
}

impl Area {
    /// `polygons` must be non-empty, each with a non-empty outer ring (the parser ensures it).
    fn new(code: String, name: String, polygons: Vec<Polygon>) -> Self {
        let bbox = polygons.iter().map(|p| p.bbox).reduce(union_bbox).unwrap_or((0.0, 0.0, 0.0, 0.0));
        Area { code, name, polygons, bbox }
    }

    /// Whether the point lies in the area. A point in a hole is outside it. A point exactly on a
    /// boundary may go either way, but never panics.
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        in_bbox(self.bbox, lat, lon) && self.polygons.iter().any(|p| p.contains(lat, lon))
    }

    /// The area-weighted centroid of the largest polygon, as (lat, lon): a label or map centre.
    /// For a concave shape (a crescent) it can lie outside the area.
    pub fn centroid(&self) -> (f64, f64) {
        let largest = self
            .polygons
            .iter()
            .map(Polygon::area_and_centroid)
            .max_by(|a, b| a.0.abs().total_cmp(&b.0.abs()))
            .map(|(_, c)| c);
        match largest {
            Some((lon, lat)) => (lat, lon),
            None => ((self.bbox.0 + self.bbox.2) / 2.0, (self.bbox.1 + self.bbox.3) / 2.0),
        }
    }

    /// The bounding box, latitude first like the rest of this API: (min_lat, min_lon, max_lat,
    /// max_lon). Note that GeoJSON's own `bbox` member is the other way round.
    pub fn bbox(&self) -> (f64, f64, f64, f64) {
        self.bbox
    }

    /// Every ring of the boundary, outer rings and holes alike, as (lon, lat) positions in the
    /// file's order: what a map draws (with the even-odd fill rule, holes come out as holes).
    pub fn rings(&self) -> impl Iterator<Item = &[(f64, f64)]> {
        self.polygons.iter().flat_map(|p| std::iter::once(p.outer.as_slice()).chain(p.holes.iter().map(Vec::as_slice)))
    }
}

/// What an imported area is for. Records are placed in boroughs (local authority districts);
/// neighbourhoods (wards, beats, a partnership's own areas) are defined for analysis and may
/// overlap them, so they never decide a record's borough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaKind {
    Borough,
    Neighbourhood,
}

impl AreaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AreaKind::Borough => "borough",
            AreaKind::Neighbourhood => "neighbourhood",
        }
    }
}

impl std::str::FromStr for AreaKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "borough" => Ok(AreaKind::Borough),
            "neighbourhood" => Ok(AreaKind::Neighbourhood),
            other => Err(format!("{other:?} is not an area kind: borough or neighbourhood")),
        }
    }
}

/// The areas, in order, for placing many points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AreaIndex {
    areas: Vec<Area>,
}

impl AreaIndex {
    pub fn new(areas: Vec<Area>) -> Self {
        AreaIndex { areas }
    }

    /// The first area containing the point, or `None` outside them all. Allocates nothing: it
    /// runs for every row of a bulk import. Most areas are ruled out by their bounding box, so a
    /// point is ray-cast against only the few whose boxes overlap it.
    pub fn locate(&self, lat: f64, lon: f64) -> Option<&Area> {
        self.areas.iter().find(|a| a.contains(lat, lon))
    }

    pub fn areas(&self) -> &[Area] {
        &self.areas
    }

    pub fn len(&self) -> usize {
        self.areas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.areas.is_empty()
    }
}

fn in_bbox((s, w, n, e): BBox, lat: f64, lon: f64) -> bool {
    lat >= s && lat <= n && lon >= w && lon <= e
}

fn union_bbox(a: BBox, b: BBox) -> BBox {
    (a.0.min(b.0), a.1.min(b.1), a.2.max(b.2), a.3.max(b.3))
}

fn ring_bbox(ring: &[(f64, f64)]) -> BBox {
    ring.iter().fold((f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY), |(s, w, n, e), &(x, y)| {
        (s.min(y), w.min(x), n.max(y), e.max(x))
    })
}

/// Even-odd ray casting: count the edges crossed by a ray from the point towards +longitude.
/// Each edge is half-open in latitude (`yi > lat` vs `yj > lat`), so a ray through a vertex is
/// counted once, and a horizontal edge (yi == yj) never reaches the division.
fn ring_contains(ring: &[(f64, f64)], lat: f64, lon: f64) -> bool {
    let Some(&last) = ring.last() else { return false };
    let mut inside = false;
    let (mut xj, mut yj) = last;
    for &(xi, yi) in ring {
        if (yi > lat) != (yj > lat) {
            let x_cross = xi + (lat - yi) * (xj - xi) / (yj - yi);
            if lon < x_cross {
                inside = !inside;
            }
        }
        (xj, yj) = (xi, yi);
    }
    inside
}

/// The shoelace area and first moments of a ring about `origin`, made positive whichever way
/// the ring winds (GeoJSON asks for anticlockwise outers, but older files ignore that).
fn ring_moments(ring: &[(f64, f64)], origin: (f64, f64)) -> (f64, f64, f64) {
    let Some(&last) = ring.last() else { return (0.0, 0.0, 0.0) };
    let (mut a, mut mx, mut my) = (0.0, 0.0, 0.0);
    let mut prev = (last.0 - origin.0, last.1 - origin.1);
    for &(x, y) in ring {
        let cur = (x - origin.0, y - origin.1);
        let cross = prev.0 * cur.1 - cur.0 * prev.1;
        a += cross;
        mx += (prev.0 + cur.0) * cross;
        my += (prev.1 + cur.1) * cross;
        prev = cur;
    }
    // a is twice the signed area; the moments are six times area × centroid.
    let (a, mx, my) = (a / 2.0, mx / 6.0, my / 6.0);
    if a < 0.0 {
        (-a, -mx, -my)
    } else {
        (a, mx, my)
    }
}

/// What was wrong with a boundary file, and where.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum AreaError {
    /// The text is not JSON, or is JSON of a shape serde could not read (the message gives the
    /// line and column).
    #[error("not readable GeoJSON: {0}")]
    Json(String),
    #[error("not a GeoJSON FeatureCollection: {0}")]
    NotFeatureCollection(String),
    /// A problem with one feature: `index` counts from 0 in the file's `features` array; `code`
    /// is the area code when it was read before the problem was found.
    #[error("feature {index}{}: {problem}", in_brackets(.code))]
    Feature { index: usize, code: Option<String>, problem: FeatureProblem },
}

fn in_brackets(code: &Option<String>) -> String {
    code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
}

/// What was wrong with one feature.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum FeatureProblem {
    #[error("is {0}, not an object")]
    NotAnObject(&'static str),
    #[error("type is {0}, not Feature")]
    NotAFeature(String),
    #[error("properties are {0}, not an object")]
    PropertiesNotAnObject(&'static str),
    /// No property name was given and none looked like one.
    #[error("no property ending in {suffix} to use as the area {role} (properties: {properties})")]
    Undetected { suffix: &'static str, role: &'static str, properties: String },
    /// The property name given by the caller is not on this feature.
    #[error("no property {property} (properties: {properties})")]
    MissingProperty { property: String, properties: String },
    #[error("property {property} is {found}, not text")]
    NotText { property: String, found: &'static str },
    #[error("property {property} is empty")]
    EmptyProperty { property: String },
    #[error("no geometry")]
    NoGeometry,
    #[error("geometry is {0}, not an object")]
    GeometryNotAnObject(&'static str),
    #[error("geometry has no type")]
    NoGeometryType,
    #[error("geometry type {0} is not a Polygon or MultiPolygon")]
    GeometryType(String),
    /// The nesting of `coordinates` is wrong: what was expected.
    #[error("coordinates are not {0}")]
    Malformed(&'static str),
    #[error("geometry has no polygons")]
    NoPolygons,
    #[error("ring with fewer than 4 positions ({0})")]
    ShortRing(usize),
    #[error("position {0} is not [longitude, latitude]")]
    NotAPosition(String),
    #[error("position [{lon:?}, {lat:?}] is not longitude, latitude in degrees (WGS84)")]
    NotDegrees { lon: f64, lat: f64 },
}

/// Reads the areas from a GeoJSON FeatureCollection of Polygon and MultiPolygon features in
/// WGS84 longitude, latitude (ONS boundary files are, in their "WGS84" downloads; a British
/// National Grid file is refused by its first position).
///
/// `code_property` and `name_property` name the properties holding each area's code and name.
/// When `None`, each is detected per feature: the code is the first property (in the file's
/// order) whose name ends in "CD", any case (`LAD22CD`, `lad17cd`), or is `code` / `gss_code`;
/// the name likewise ends in "NM" or is `name`. A code given as a JSON number is taken as text.
pub fn parse_geojson(
    text: &str,
    code_property: Option<&str>,
    name_property: Option<&str>,
) -> Result<Vec<Area>, AreaError> {
    let top: AnObject<RawCollection> = serde_json::from_str(text).map_err(|e| AreaError::Json(e.to_string()))?;
    let collection = match top {
        AnObject::Is(c) => c,
        AnObject::Not(kind) => return Err(AreaError::NotFeatureCollection(format!("the top level is {kind}"))),
    };
    match &collection.kind {
        Some(Value::String(t)) if t == "FeatureCollection" => {}
        Some(Value::String(t)) => return Err(AreaError::NotFeatureCollection(format!("its type is {t}"))),
        Some(other) => return Err(AreaError::NotFeatureCollection(format!("its type is {}", kind_of(other)))),
        None => return Err(AreaError::NotFeatureCollection("it has no type".into())),
    }
    let features = match collection.features {
        Some(AnArray::Is(features)) => features,
        Some(AnArray::Not(kind)) => {
            return Err(AreaError::NotFeatureCollection(format!("its features are {kind}, not an array")))
        }
        None => return Err(AreaError::NotFeatureCollection("it has no features".into())),
    };
    features
        .into_iter()
        .enumerate()
        .map(|(index, feature)| {
            let mut code = None;
            let area = read_feature(feature, code_property, name_property, &mut code);
            area.map_err(|problem| AreaError::Feature { index, code, problem })
        })
        .collect()
}

/// One feature into an area. `code` is filled in as soon as it is known, so that a later
/// problem can name the area it belongs to.
fn read_feature(
    feature: AnObject<RawFeature>,
    code_property: Option<&str>,
    name_property: Option<&str>,
    code: &mut Option<String>,
) -> Result<Area, FeatureProblem> {
    let feature = match feature {
        AnObject::Is(f) => f,
        AnObject::Not(kind) => return Err(FeatureProblem::NotAnObject(kind)),
    };
    match &feature.kind {
        Some(Value::String(t)) if t == "Feature" => {}
        Some(Value::String(t)) => return Err(FeatureProblem::NotAFeature(t.clone())),
        Some(other) => return Err(FeatureProblem::NotAFeature(kind_of(other).into())),
        // RFC 7946 requires the type, but nothing is lost by tolerating its absence.
        None => {}
    }
    let properties = match feature.properties {
        Some(AnObject::Is(PropList(p))) => p,
        Some(AnObject::Not("null")) | None => Vec::new(),
        Some(AnObject::Not(kind)) => return Err(FeatureProblem::PropertiesNotAnObject(kind)),
    };
    let found_code = text_property(&properties, code_property, "CD", &["code", "gss_code"], "code")?;
    *code = Some(found_code.clone());
    let name = text_property(&properties, name_property, "NM", &["name"], "name")?;

    let geometry = match feature.geometry {
        None | Some(Value::Null) => return Err(FeatureProblem::NoGeometry),
        Some(Value::Object(g)) => g,
        Some(other) => return Err(FeatureProblem::GeometryNotAnObject(kind_of(&other))),
    };
    let coordinates = geometry.get("coordinates").unwrap_or(&Value::Null);
    let polygons = match geometry.get("type") {
        Some(Value::String(t)) if t == "Polygon" => vec![read_polygon(coordinates)?],
        Some(Value::String(t)) if t == "MultiPolygon" => {
            let parts = coordinates.as_array().ok_or(FeatureProblem::Malformed("an array of polygons"))?;
            parts.iter().map(read_polygon).collect::<Result<Vec<_>, _>>()?
        }
        Some(Value::String(t)) => return Err(FeatureProblem::GeometryType(t.clone())),
        Some(other) => return Err(FeatureProblem::GeometryType(kind_of(other).into())),
        None => return Err(FeatureProblem::NoGeometryType),
    };
    if polygons.is_empty() {
        return Err(FeatureProblem::NoPolygons);
    }
    Ok(Area::new(found_code, name, polygons))
}

/// The text of the named property, or of the first whose name has `suffix` or is one of `exact`.
fn text_property(
    properties: &[(String, Value)],
    given: Option<&str>,
    suffix: &'static str,
    exact: &[&str],
    role: &'static str,
) -> Result<String, FeatureProblem> {
    let found = match given {
        Some(key) => properties.iter().find(|(k, _)| k == key).ok_or_else(|| FeatureProblem::MissingProperty {
            property: key.to_string(),
            properties: list_names(properties),
        })?,
        None => properties
            .iter()
            .find(|(k, _)| ends_with_ignore_case(k, suffix) || exact.iter().any(|e| k.eq_ignore_ascii_case(e)))
            .ok_or_else(|| FeatureProblem::Undetected { suffix, role, properties: list_names(properties) })?,
    };
    let (key, value) = found;
    let text = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        other => return Err(FeatureProblem::NotText { property: key.clone(), found: kind_of(other) }),
    };
    if text.is_empty() {
        return Err(FeatureProblem::EmptyProperty { property: key.clone() });
    }
    Ok(text)
}

fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.is_char_boundary(s.len() - suffix.len())
        && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// The property names for an error message, capped so a strange file cannot make it enormous.
fn list_names(properties: &[(String, Value)]) -> String {
    const SHOWN: usize = 20;
    if properties.is_empty() {
        return "none".into();
    }
    let names: Vec<&str> = properties.iter().take(SHOWN).map(|(k, _)| k.as_str()).collect();
    let more = properties.len().saturating_sub(SHOWN);
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    format!("{}{more}", names.join(", "))
}

fn read_polygon(coordinates: &Value) -> Result<Polygon, FeatureProblem> {
    let rings = coordinates.as_array().ok_or(FeatureProblem::Malformed("an array of rings"))?;
    let mut rings = rings.iter().map(read_ring);
    let outer = rings.next().ok_or(FeatureProblem::Malformed("an array of rings (there are none)"))??;
    let holes = rings.collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon::new(outer, holes))
}

fn read_ring(ring: &Value) -> Result<Ring, FeatureProblem> {
    let positions = ring.as_array().ok_or(FeatureProblem::Malformed("rings of positions"))?;
    if positions.len() < 4 {
        return Err(FeatureProblem::ShortRing(positions.len()));
    }
    positions.iter().map(read_position).collect()
}

/// A `[lon, lat]` (an altitude after them is allowed and ignored) in degrees.
fn read_position(position: &Value) -> Result<(f64, f64), FeatureProblem> {
    let pair = position.as_array().and_then(|p| match p.as_slice() {
        [lon, lat, ..] => Some((lon.as_f64()?, lat.as_f64()?)),
        _ => None,
    });
    let Some((lon, lat)) = pair else {
        return Err(FeatureProblem::NotAPosition(short_json(position)));
    };
    // Finite is implied by JSON, but the check costs nothing and keeps the ray casting honest.
    if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
        return Err(FeatureProblem::NotDegrees { lon, lat });
    }
    Ok((lon, lat))
}

fn short_json(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// The file is read into these typed shapes rather than a `serde_json::Value`, because `Value`'s
// objects sort their keys (the `preserve_order` feature is off), and "the first property ending
// in CD" must mean first in the file: ONS ward files carry WD22CD before LAD22CD.

#[derive(serde::Deserialize)]
struct RawCollection {
    #[serde(rename = "type")]
    kind: Option<Value>,
    features: Option<AnArray<AnObject<RawFeature>>>,
}

#[derive(serde::Deserialize)]
struct RawFeature {
    #[serde(rename = "type")]
    kind: Option<Value>,
    properties: Option<AnObject<PropList>>,
    geometry: Option<Value>,
}

/// An object's members in the order written.
struct PropList(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for PropList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PropList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PropList, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Value>()? {
                    members.push(member);
                }
                Ok(PropList(members))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// A JSON value that ought to be an object: when it is something else, what it was, so that the
/// error can say so in words rather than serde's "invalid type … expected struct".
enum AnObject<T> {
    Is(T),
    Not(&'static str),
}

/// Likewise for a value that ought to be an array.
enum AnArray<T> {
    Is(Vec<T>),
    Not(&'static str),
}

/// Visits any JSON value; an object (or, with `ARRAY`, an array) is read as `T`, anything else
/// is consumed and named.
struct Shape<T, const ARRAY: bool>(PhantomData<T>);

impl<'de, T: Deserialize<'de>, const ARRAY: bool> Visitor<'de> for Shape<T, ARRAY> {
    type Value = Result<T, &'static str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Err("a string"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Err("null"))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Err("null"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if ARRAY {
            return T::deserialize(SeqAccessDeserializer::new(seq)).map(Ok);
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if !ARRAY {
            return T::deserialize(MapAccessDeserializer::new(map)).map(Ok);
        }
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Err("an object"))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for AnObject<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match deserializer.deserialize_any(Shape::<T, false>(PhantomData))? {
            Ok(t) => AnObject::Is(t),
            Err(kind) => AnObject::Not(kind),
        })
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for AnArray<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match deserializer.deserialize_any(Shape::<Vec<T>, true>(PhantomData))? {
            Ok(items) => AnArray::Is(items),
            Err(kind) => AnArray::Not(kind),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boroughs::MPS_BOROUGHS;

    /// A feature as GeoJSON text, with the given properties and geometry.
    fn feature(properties: &str, geometry: &str) -> String {
        format!(r#"{{"type": "Feature", "properties": {properties}, "geometry": {geometry}}}"#)
    }

    fn collection(features: &[String]) -> String {
        format!(r#"{{"type": "FeatureCollection", "features": [{}]}}"#, features.join(","))
    }

    const PROPS: &str = r#"{"LAD22CD": "E09000007", "LAD22NM": "Camden"}"#;

    /// A 10 × 10 square (in degrees, lon 0..10, lat 40..50) with a 2 × 2 hole in the middle.
    const SQUARE_WITH_HOLE: &str = r#"{"type": "Polygon", "coordinates": [
        [[0, 40], [10, 40], [10, 50], [0, 50], [0, 40]],
        [[4, 44], [4, 46], [6, 46], [6, 44], [4, 44]]
    ]}"#;

    fn parse_one(geometry: &str) -> Area {
        let mut areas = parse_geojson(&collection(&[feature(PROPS, geometry)]), None, None).expect("parses");
        assert_eq!(areas.len(), 1);
        areas.remove(0)
    }

    fn problem(text: &str) -> String {
        parse_geojson(text, None, None).expect_err("should be refused").to_string()
    }

    #[test]
    fn square_with_a_hole() {
        let area = parse_one(SQUARE_WITH_HOLE);
        assert_eq!((area.code.as_str(), area.name.as_str()), ("E09000007", "Camden"));
        assert!(area.contains(42.0, 2.0), "inside the square, outside the hole");
        assert!(area.contains(49.9, 9.9));
        assert!(!area.contains(45.0, 5.0), "in the hole is outside the area");
        assert!(!area.contains(45.0, 11.0), "east of the square");
        assert!(!area.contains(39.0, 5.0), "south of the square");
        assert!(!area.contains(45.0, -1.0), "west, in line with the hole");
        assert_eq!(area.bbox(), (40.0, 0.0, 50.0, 10.0));
        // On vertices and edges the answer may go either way; it must simply not panic.
        for (lat, lon) in [(40.0, 0.0), (50.0, 10.0), (44.0, 4.0), (46.0, 6.0), (45.0, 0.0), (45.0, 4.0)] {
            let _ = area.contains(lat, lon);
        }
        for odd in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(!area.contains(odd, 5.0) && !area.contains(45.0, odd));
        }
        // A map draws both rings, (lon, lat) as in the file.
        let rings: Vec<&[(f64, f64)]> = area.rings().collect();
        assert_eq!(rings.len(), 2);
        assert_eq!((rings[0][1], rings[1][1]), ((10.0, 40.0), (4.0, 46.0)));
    }

    #[test]
    fn centroid_allows_for_the_hole() {
        // A symmetric hole leaves the centre where it was…
        let (lat, lon) = parse_one(SQUARE_WITH_HOLE).centroid();
        assert!((lat - 45.0).abs() < 1e-9 && (lon - 5.0).abs() < 1e-9, "{lat}, {lon}");
        // …and an off-centre one pushes it away. Wound clockwise, which must not matter.
        let lopsided = r#"{"type": "Polygon", "coordinates": [
            [[0, 40], [0, 50], [10, 50], [10, 40], [0, 40]],
            [[6, 44], [8, 44], [8, 46], [6, 46], [6, 44]]
        ]}"#;
        let (lat, lon) = parse_one(lopsided).centroid();
        assert!((lat - 45.0).abs() < 1e-9 && lon < 5.0, "{lat}, {lon}");
    }

    #[test]
    fn multipolygon_with_two_parts() {
        let area = parse_one(
            r#"{"type": "MultiPolygon", "coordinates": [
                [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]],
                [[[5, 5], [8, 5], [8, 8], [5, 8], [5, 5]]]
            ]}"#,
        );
        assert!(area.contains(0.5, 0.5));
        assert!(area.contains(6.0, 7.0));
        assert!(!area.contains(3.0, 3.0), "between the parts, inside the overall box");
        assert_eq!(area.bbox(), (0.0, 0.0, 8.0, 8.0));
        let (lat, lon) = area.centroid();
        assert!((lat - 6.5).abs() < 1e-9 && (lon - 6.5).abs() < 1e-9, "the larger part: {lat}, {lon}");
    }

    #[test]
    fn index_locates_the_first_area_containing_the_point() {
        let square = |code: &str, w: i32| {
            let props = format!(r#"{{"code": "{code}", "name": "Area {code}"}}"#);
            let e = w + 10;
            feature(
                &props,
                &format!(r#"{{"type": "Polygon", "coordinates": [[[{w},0],[{e},0],[{e},10],[{w},10],[{w},0]]]}}"#),
            )
        };
        let areas = parse_geojson(&collection(&[square("A", 0), square("B", 10)]), None, None).unwrap();
        let index = AreaIndex::new(areas);
        assert_eq!((index.len(), index.is_empty()), (2, false));
        assert_eq!(index.locate(5.0, 5.0).map(|a| a.code.as_str()), Some("A"));
        assert_eq!(index.locate(5.0, 15.0).map(|a| a.code.as_str()), Some("B"));
        assert_eq!(index.locate(5.0, 25.0).map(|a| a.code.as_str()), None);
        assert_eq!(index.areas()[1].name, "Area B");
        assert!(AreaIndex::new(Vec::new()).is_empty());
        assert!(AreaIndex::default().locate(5.0, 5.0).is_none());
    }

    #[test]
    fn properties_are_detected_in_the_files_order() {
        let geometry = r#"{"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,1],[0,0]]]}"#;
        let first = |props: &str| {
            let area = parse_geojson(&collection(&[feature(props, geometry)]), None, None).unwrap().remove(0);
            (area.code, area.name)
        };
        let pair = |c: &str, n: &str| (c.to_string(), n.to_string());
        assert_eq!(first(r#"{"OBJECTID": 1, "lad17cd": "E09000001", "lad17nm": "City"}"#), pair("E09000001", "City"));
        // In the file's order, not alphabetical: a ward file's own code comes before its district's.
        assert_eq!(
            first(r#"{"WD22CD": "E05000001", "WD22NM": "Aldersgate", "WD22NMW": " ", "LAD22CD": "E09000001"}"#),
            pair("E05000001", "Aldersgate")
        );
        assert_eq!(first(r#"{"name": "Somewhere", "gss_code": "E09000002"}"#), pair("E09000002", "Somewhere"));
        assert_eq!(first(r#"{"Code": 42, "Name": " Padded "}"#), pair("42", "Padded"));
        // Named by the caller, the named properties are used even when others would be detected.
        let named = parse_geojson(
            &collection(&[feature(r#"{"LAD22CD": "E1", "LAD22NM": "One", "ref": "X9", "label": "Ex"}"#, geometry)]),
            Some("ref"),
            Some("label"),
        )
        .unwrap();
        assert_eq!((named[0].code.as_str(), named[0].name.as_str()), ("X9", "Ex"));
    }

    #[test]
    fn errors_say_what_and_where() {
        let square = r#"{"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,1],[0,0]]]}"#;
        let ok = feature(PROPS, square);

        assert_eq!(problem("[1, 2]"), "not a GeoJSON FeatureCollection: the top level is an array");
        assert_eq!(problem(&feature(PROPS, square)), "not a GeoJSON FeatureCollection: its type is Feature");
        assert_eq!(problem(r#"{"type": "FeatureCollection"}"#), "not a GeoJSON FeatureCollection: it has no features");
        assert!(problem("{\"type\": ").starts_with("not readable GeoJSON: EOF"), "{}", problem("{\"type\": "));

        let point = feature(PROPS, r#"{"type": "Point", "coordinates": [0.0, 51.0]}"#);
        assert_eq!(
            problem(&collection(&[ok.clone(), ok.clone(), ok.clone(), point])),
            "feature 3 (E09000007): geometry type Point is not a Polygon or MultiPolygon"
        );

        assert_eq!(
            problem(&collection(&[feature(r#"{"a": 1, "b": "x"}"#, square)])),
            "feature 0: no property ending in CD to use as the area code (properties: a, b)"
        );
        assert_eq!(
            problem(&collection(&[feature(r#"{"LAD22CD": "E09000007"}"#, square)])),
            "feature 0 (E09000007): no property ending in NM to use as the area name (properties: LAD22CD)"
        );
        assert_eq!(
            problem(&collection(&[feature("null", square)])),
            "feature 0: no property ending in CD to use as the area code (properties: none)"
        );
        assert_eq!(
            parse_geojson(&collection(std::slice::from_ref(&ok)), Some("GSS"), None).unwrap_err().to_string(),
            "feature 0: no property GSS (properties: LAD22CD, LAD22NM)"
        );
        assert_eq!(
            problem(&collection(&[feature(r#"{"LAD22CD": null, "LAD22NM": "x"}"#, square)])),
            "feature 0: property LAD22CD is null, not text"
        );

        let triangle = feature(PROPS, r#"{"type": "Polygon", "coordinates": [[[0,0],[1,0],[0,1]]]}"#);
        let five_ok = vec![ok.clone(); 5];
        assert_eq!(
            problem(&collection(&[five_ok.as_slice(), &[triangle]].concat())),
            "feature 5 (E09000007): ring with fewer than 4 positions (3)"
        );

        let east_of_everything =
            feature(PROPS, r#"{"type": "Polygon", "coordinates": [[[200,51],[1,0],[1,1],[200,51]]]}"#);
        assert_eq!(
            problem(&collection(&[ok.clone(), ok.clone(), east_of_everything])),
            "feature 2 (E09000007): position [200.0, 51.0] is not longitude, latitude in degrees (WGS84)"
        );
        // British National Grid eastings and northings are refused the same way.
        let bng = feature(PROPS, r#"{"type": "Polygon", "coordinates": [[[529000,182000],[1,0],[1,1],[0,0]]]}"#);
        assert!(problem(&collection(&[bng])).contains("position [529000.0, 182000.0] is not longitude, latitude"));

        let words = feature(PROPS, r#"{"type": "Polygon", "coordinates": [[["a","b"],[1,0],[1,1],[0,0]]]}"#);
        assert_eq!(
            problem(&collection(&[words])),
            r#"feature 0 (E09000007): position ["a","b"] is not [longitude, latitude]"#
        );
        assert_eq!(problem(&collection(&[feature(PROPS, "null")])), "feature 0 (E09000007): no geometry");
        assert_eq!(
            problem(&collection(&[feature(PROPS, r#"{"type": "MultiPolygon", "coordinates": []}"#)])),
            "feature 0 (E09000007): geometry has no polygons"
        );
        assert_eq!(problem(&collection(&["7".to_string()])), "feature 0: is a number, not an object");
    }

    #[test]
    fn never_panics_on_odd_input() {
        let texts = [
            "",
            "null",
            "\"FeatureCollection\"",
            r#"{"type": "FeatureCollection", "features": {}}"#,
            r#"{"type": "FeatureCollection", "features": [[]]}"#,
            r#"{"type": 7, "features": []}"#,
            r#"{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": [], "geometry": 1}]}"#,
            r#"{"type": "FeatureCollection", "features": [{"properties": {"c": 1}, "geometry": {"type": "Polygon"}}]}"#,
            r#"{"type": "FeatureCollection", "features": [{"properties": {"xCD": "1", "xNM": "n"}, "geometry": {"type": "Polygon", "coordinates": []}}]}"#,
            r#"{"type": "FeatureCollection", "features": [{"properties": {"xCD": "1", "xNM": "n"}, "geometry": {"type": "MultiPolygon", "coordinates": [[[]]]}}]}"#,
            r#"{"type": "FeatureCollection", "features": [{"properties": {"xCD": "1", "xNM": "n"}, "geometry": {"type": "Polygon", "coordinates": [[1,2,3,4]]}}]}"#,
            r#"{"type": "FeatureCollection", "features": [{"properties": {"éCD": "1", "ÑM": ""}, "geometry": null}]}"#,
            r#"{"type": "FeatureCollection", "features": [{"properties": {"xCD": "1", "xNM": "n"}, "geometry": {"type": "Polygon", "coordinates": [[[1e400, 0]]]}}]}"#,
        ];
        for text in texts {
            assert!(parse_geojson(text, None, None).is_err(), "{text}");
        }
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_geojson(&deep, None, None).is_err());
        assert_eq!(parse_geojson(r#"{"type": "FeatureCollection", "features": []}"#, None, None), Ok(vec![]));
    }

    const LONDON: &str =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/boundaries/london_boroughs_lad22_wgs84.geojson");

    #[test]
    fn london_boroughs_from_the_shared_boundary_file() {
        let text = std::fs::read_to_string(LONDON).unwrap_or_else(|e| {
            panic!("the shared data is missing: cannot read {LONDON} ({e}); this test needs ../shared/data beside the workspace")
        });
        let index = AreaIndex::new(parse_geojson(&text, None, None).expect("the ONS file parses"));
        assert_eq!(index.len(), 33, "32 MPS boroughs and the City of London");

        let at = |lat, lon| index.locate(lat, lon).map(|a| (a.code.as_str(), a.name.as_str()));
        assert_eq!(at(51.5290, -0.1255), Some(("E09000007", "Camden")), "Camden Town Hall");
        assert_eq!(at(51.3714, -0.0977).map(|a| a.0), Some("E09000008"), "Croydon");
        assert_eq!(at(51.4994, -0.1273).map(|a| a.0), Some("E09000033"), "Westminster Abbey");
        assert_eq!(at(51.5157, -0.0919), Some(("E09000001", "City of London")), "the Guildhall");
        assert_eq!(at(53.4084, -2.9916), None, "Liverpool");

        let misplaced: Vec<String> = MPS_BOROUGHS
            .iter()
            .filter(|b| index.locate(b.lat, b.lon).map(|a| a.code.as_str()) != Some(b.ons_code))
            .map(|b| format!("{} {} centre in {:?}", b.ons_code, b.name, index.locate(b.lat, b.lon)))
            .collect();
        assert!(misplaced.is_empty(), "borough centres outside their own borough: {misplaced:?}");

        // Each centroid lands in its own area (true of London's fairly compact boroughs).
        for area in index.areas() {
            let (lat, lon) = area.centroid();
            assert!(area.contains(lat, lon), "{} centroid {lat}, {lon}", area.name);
        }
    }
}
