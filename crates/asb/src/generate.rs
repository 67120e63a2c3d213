//! `asb generate`: a synthetic but plausible London ASB dataset, written straight into the store.
//!
//! The shape follows DOMAIN.md §1–4: the 32 MPS boroughs with their own streets, postcodes and
//! hotspots; callers, named subjects and witnesses; incidents over the last `years` years with
//! more on summer evenings and around Bonfire Night; the MPS 2018/19 category split; a repeat
//! distribution where, among callers, about 1 in 4 report 6+ times within a year and about 1 in 7
//! more than 10 times; risk levels from the shipped questionnaire. Everything derives from one
//! seeded ChaCha8 stream, so a seed always gives the same data. Generation runs on a blocking
//! thread and hands batches to the loader through a small channel, so building rows and writing
//! them overlap.

use anyhow::{anyhow, bail, Context, Result};
use asb_domain::boroughs::{Borough, MPS_BOROUGHS};
use asb_domain::contact::Channel;
use asb_domain::history::Role;
use asb_domain::matching::{normalise_address, to_i64, GeoPoint, PersonName};
use asb_domain::nsir::Category;
use asb_domain::risk::Questionnaire;
use asb_domain::{IncidentRef, Policies, RiskLevel};
use asb_store::{
    Batch, ChangeRow, Closing, DipRow, IncidentRow, PersonRow, PlaceRow, ReviewRow, ScheduleRow, Store, UpdateRow,
};
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// People in all: about 60% callers, 30% named subjects, 10% witnesses.
    pub people: usize,
    pub incidents: usize,
    pub seed: u64,
    /// Incidents fall in the `years` years before this instant.
    pub now: DateTime<Utc>,
    pub years: u32,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions { people: 20_000, incidents: 60_000, seed: 1, now: Utc::now(), years: 2 }
    }
}

/// What was generated, with the figures an analyst would check first.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateReport {
    pub people: usize,
    pub places: usize,
    pub incidents: usize,
    pub elapsed: Duration,
    /// Callers with at least one report.
    pub callers: usize,
    /// Callers with 6 or more reports within some 12 months.
    pub callers_6_plus_a_year: usize,
    /// Callers with more than 10 reports within some 12 months.
    pub callers_over_10_a_year: usize,
    /// Shares of personal, nuisance and environmental incidents.
    pub category_shares: [f64; 3],
    /// Shares of assessed incidents at standard, medium and high risk.
    pub risk_shares: [f64; 3],
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Generate into `store` (which may already hold data: ids continue after the highest, and
/// references after the existing count), calling `progress(incidents_done, incidents_total)`
/// after each batch of incidents is written.
pub async fn generate(
    store: &Store,
    opts: &GenerateOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<GenerateReport> {
    let started = Instant::now();
    if !(1..=50).contains(&opts.years) {
        bail!("years must be between 1 and 50");
    }
    if opts.incidents > 0 && opts.people == 0 {
        bail!("incidents need people to report them: give at least one person");
    }
    if opts.people > u32::MAX as usize / 2 || opts.incidents > u32::MAX as usize / 2 {
        bail!("too many rows for one run: generate in several runs of up to 2 billion");
    }
    store.seed_organisations().await.context("seeding organisations")?;
    let codes: HashMap<String, i64> = store.organisation_ids().await?.into_iter().collect();
    let orgs = OrgIds::resolve(&codes)?;
    let (place_base, person_base, incident_base) = store.max_ids().await?;
    let existing = store.counts().await?.incidents;
    let plan = Plan {
        opts: opts.clone(),
        orgs,
        place_base,
        person_base,
        incident_base,
        review_base: store.max_review_id().await?,
        sequence_offset: u64::try_from(existing).unwrap_or(0),
    };

    store.begin_bulk().await?;
    let (tx, mut rx) = mpsc::channel::<Msg>(2);
    let worker = tokio::task::spawn_blocking(move || Gen::new(plan).run(&tx));
    let total = opts.incidents;
    let mut done = 0;
    let mut failed = None;
    while let Some(msg) = rx.recv().await {
        if let Err(e) = store.load_batch(&msg.batch).await {
            failed = Some(e);
            break;
        }
        if msg.incidents > 0 {
            done += msg.incidents;
            progress(done, total);
        }
    }
    drop(rx); // a generator still sending stops at its next batch
    let outcome = worker.await.context("the generator thread failed");
    store.end_bulk().await?;
    let outcome = outcome?;
    if let Some(e) = failed {
        return Err(e).context("writing generated rows");
    }
    let summary = outcome?;
    for (year, last) in &summary.last_sequence {
        store.set_reference_counter(*year, i64::try_from(*last + 1).unwrap_or(i64::MAX)).await?;
    }
    store.optimise().await?;
    let cats = summary.categories;
    let cat_total = cats.iter().sum::<usize>();
    let risks = summary.risk_levels;
    let risk_total = risks.iter().sum::<usize>();
    Ok(GenerateReport {
        people: summary.people,
        places: summary.places,
        incidents: summary.incidents,
        elapsed: started.elapsed(),
        callers: summary.callers,
        callers_6_plus_a_year: summary.callers_6_plus,
        callers_over_10_a_year: summary.callers_over_10,
        category_shares: cats.map(|c| ratio(c, cat_total)),
        risk_shares: risks.map(|c| ratio(c, risk_total)),
    })
}

// ---------------------------------------------------------------------------------------------
// Plumbing between the generator thread and the loader.

/// Rows a `load_batch` call writes.
const BATCH: usize = 20_000;
const DAY: i64 = 86_400;
/// The repeat window: 12 months.
const YEAR_SECS: u32 = 365 * 86_400;
const NONE: u32 = u32::MAX;

struct Msg {
    batch: Batch,
    incidents: usize,
}

struct Plan {
    opts: GenerateOptions,
    orgs: OrgIds,
    place_base: i64,
    person_base: i64,
    incident_base: i64,
    review_base: i64,
    sequence_offset: u64,
}

struct OrgIds {
    force: i64,
    boroughs: Vec<i64>,
    councils: Vec<i64>,
    housing: i64,
    victim_support: i64,
}

impl OrgIds {
    fn resolve(codes: &HashMap<String, i64>) -> Result<OrgIds> {
        let get = |code: &str| {
            codes.get(code).copied().ok_or_else(|| anyhow!("organisation {code} is missing after seeding"))
        };
        Ok(OrgIds {
            force: get("MPS")?,
            boroughs: MPS_BOROUGHS.iter().map(|b| get(&format!("MPS-{}", b.ons_code))).collect::<Result<_>>()?,
            councils: MPS_BOROUGHS.iter().map(|b| get(&format!("LBC-{}", b.ons_code))).collect::<Result<_>>()?,
            housing: get("HOUSING-DEMO")?,
            victim_support: get("VS-LONDON")?,
        })
    }
}

struct Summary {
    people: usize,
    places: usize,
    incidents: usize,
    callers: usize,
    callers_6_plus: usize,
    callers_over_10: usize,
    categories: [usize; 3],
    risk_levels: [usize; 3],
    last_sequence: BTreeMap<i32, u64>,
}

/// Collects rows and hands full batches to the loader.
struct Out<'a> {
    tx: &'a mpsc::Sender<Msg>,
    batch: Batch,
}

impl Out<'_> {
    fn rows(&self) -> usize {
        let b = &self.batch;
        b.places.len() + b.people.len() + b.incidents.len() + b.reviews.len() + b.updates.len() + b.dip_samples.len()
    }
    fn flush_if_full(&mut self) -> Result<()> {
        if self.rows() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        if self.rows() == 0 {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let incidents = batch.incidents.len();
        self.tx.blocking_send(Msg { batch, incidents }).map_err(|_| anyhow!("the loader stopped"))
    }
}

// ---------------------------------------------------------------------------------------------
// Random helpers.

fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.gen::<f64>() < p
}

/// A uniformly chosen element; `items` is never empty (static tables, checked slices).
fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// An index below `n` (> 0) with weight proportional to 1/(i + a): Zipf-like popularity.
fn zipf(rng: &mut ChaCha8Rng, n: usize, a: f64) -> usize {
    let u: f64 = rng.gen();
    let x = a * ((n as f64 + a) / a).powf(u) - a;
    (x as usize).min(n - 1)
}

/// An index into a table of (value, weight) pairs, by weight.
fn weighted<T>(rng: &mut ChaCha8Rng, table: &[(T, u32)]) -> usize {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen_range(0..total.max(1));
    for (i, (_, w)) in table.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    table.len() - 1
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box–Muller; 1 - u keeps the logarithm finite.
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Split `total` in proportion to `weights` by systematic sampling: each share is the floor or
/// the ceiling of its exact value, and the shares add up to `total`.
fn allocate(rng: &mut ChaCha8Rng, weights: &[f64], total: usize) -> Vec<usize> {
    let sum: f64 = weights.iter().sum();
    let mut out = vec![0; weights.len()];
    if weights.is_empty() || total == 0 || sum <= 0.0 {
        return out;
    }
    let offset: f64 = rng.gen();
    let mut cum = 0.0;
    let mut prev = 0usize;
    for (i, w) in weights.iter().enumerate() {
        cum += w;
        let k = if i + 1 == weights.len() {
            total
        } else {
            ((cum / sum * total as f64 + offset).floor() as usize).min(total)
        };
        let k = k.max(prev);
        out[i] = k - prev;
        prev = k;
    }
    out
}

const PHONE_SPACE: u64 = 500_000_000;

/// A bijection of [0, 2^29): odd multiplications and xor-shifts, each invertible.
fn scramble29(mut x: u64) -> u64 {
    const MASK: u64 = (1 << 29) - 1;
    for k in [0x2545_f491u64, 0x1b87_3593, 0x0cc9_e2d5] {
        x = (x.wrapping_mul(k)) & MASK;
        x ^= x >> 15;
        x = (x.wrapping_mul(0x0f1b_bcdd)) & MASK;
        x ^= x >> 13;
    }
    x
}

/// A permutation of [0, PHONE_SPACE) (cycle-walking the 29-bit one), applied to `id` modulo it.
fn phone_index(id: u64) -> u64 {
    let mut x = scramble29(id % PHONE_SPACE);
    while x >= PHONE_SPACE {
        x = scramble29(x);
    }
    x
}

/// A point `north`/`east` metres from (lat, lon).
fn shift(lat: f64, lon: f64, north: f64, east: f64) -> (f64, f64) {
    (lat + north / 111_320.0, lon + east / (111_320.0 * lat.to_radians().cos()))
}

fn h3(lat: f64, lon: f64) -> Option<i64> {
    GeoPoint::new(lat, lon).ok().map(|p| to_i64(p.cell()))
}

// ---------------------------------------------------------------------------------------------
// The calendar: which days and hours ASB is reported on.

/// Relative volume by month, January first: a summer peak, a lull after Christmas.
const MONTH_WEIGHT: [f32; 12] = [0.80, 0.78, 0.88, 0.95, 1.05, 1.12, 1.18, 1.15, 1.00, 1.03, 0.98, 0.82];
/// Relative volume by local hour: quiet before dawn, rising through the day to an evening peak.
const HOUR_WEIGHT: [f32; 24] = [
    0.90, 0.65, 0.45, 0.32, 0.24, 0.20, 0.25, 0.40, 0.60, 0.75, 0.85, 0.95, 1.00, 1.05, 1.10, 1.20, 1.35, 1.55, 1.70,
    1.80, 1.85, 1.75, 1.50, 1.20,
];

struct Calendar {
    t0: i64,
    now: i64,
    /// For each local day from t0's: the UTC instant of its midnight, its volume and hour table.
    midnight: Vec<i64>,
    weight: Vec<f32>,
    kind: Vec<u8>,
    fireworks: Vec<bool>,
    wmax: f32,
    /// Cumulative hour weights: [weekend][summer].
    hours: [[f32; 24]; 4],
}

fn last_sunday(year: i32, month: u32) -> Option<NaiveDate> {
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }?;
    let last = next.pred_opt()?;
    last.checked_sub_days(Days::new(u64::from(last.weekday().num_days_from_sunday())))
}

/// British Summer Time, by local date: from the last Sunday of March to the last of October.
fn is_bst(d: NaiveDate) -> bool {
    match (last_sunday(d.year(), 3), last_sunday(d.year(), 10)) {
        (Some(start), Some(end)) => d >= start && d < end,
        _ => false,
    }
}

impl Calendar {
    fn new(t0: i64, now: i64) -> Calendar {
        let date = |t: i64| DateTime::from_timestamp(t, 0).unwrap_or_default().date_naive();
        let (first, last) = (date(t0), date(now));
        let mut cal = Calendar {
            t0,
            now,
            midnight: vec![],
            weight: vec![],
            kind: vec![],
            fireworks: vec![],
            wmax: 0.0,
            hours: [[0.0; 24]; 4],
        };
        let mut d = first;
        while d <= last {
            let utc_midnight = d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp()).unwrap_or(t0);
            cal.midnight.push(utc_midnight - if is_bst(d) { 3600 } else { 0 });
            let (m, day) = (d.month(), d.day());
            let weekend = matches!(d.weekday(), Weekday::Fri | Weekday::Sat | Weekday::Sun);
            let mut w = MONTH_WEIGHT[(m - 1) as usize]
                * if matches!(d.weekday(), Weekday::Fri | Weekday::Sat) { 1.12 } else { 0.97 };
            w *= match (m, day) {
                (10, 31) => 1.5,
                (11, 5) => 2.2,
                (11, 4) | (11, 6) => 1.6,
                (12, 31) | (1, 1) => 1.5,
                _ => 1.0,
            };
            cal.weight.push(w);
            cal.wmax = cal.wmax.max(w);
            cal.fireworks.push(
                (m == 10 && day >= 20) || (m == 11 && day <= 12) || (m == 12 && day == 31) || (m == 1 && day == 1),
            );
            cal.kind.push(u8::from(weekend) * 2 + u8::from((6..=8).contains(&m)));
            match d.succ_opt() {
                Some(next) => d = next,
                None => break,
            }
        }
        for (k, table) in cal.hours.iter_mut().enumerate() {
            let (weekend, summer) = (k >= 2, k % 2 == 1);
            let mut acc = 0.0;
            for (h, slot) in table.iter_mut().enumerate() {
                let mut w = HOUR_WEIGHT[h];
                if weekend && h <= 3 {
                    w *= 1.7;
                }
                if weekend && h >= 21 {
                    w *= 1.2;
                }
                if summer && (h >= 19 || h <= 1) {
                    w *= 1.25;
                }
                acc += w;
                *slot = acc;
            }
        }
        cal
    }

    fn days(&self) -> usize {
        self.midnight.len()
    }

    fn day_of(&self, t: i64) -> usize {
        // Local days start at or before their UTC midnight; search from the estimate.
        let mut d = (((t - self.t0) / DAY).max(0) as usize).min(self.days() - 1);
        while d + 1 < self.days() && self.midnight[d + 1] <= t {
            d += 1;
        }
        while d > 0 && self.midnight[d] > t {
            d -= 1;
        }
        d
    }

    /// An instant in [t0, now) on a day in lo..=hi, by the day and hour profiles.
    fn sample(&self, rng: &mut ChaCha8Rng, lo: usize, hi: usize) -> i64 {
        let hi = hi.min(self.days() - 1);
        let lo = lo.min(hi);
        for _ in 0..256 {
            let d = rng.gen_range(lo..=hi);
            if rng.gen::<f32>() * self.wmax > self.weight[d] {
                continue;
            }
            let table = &self.hours[self.kind[d] as usize];
            let x = rng.gen::<f32>() * table[23];
            let hour = table.iter().position(|c| x < *c).unwrap_or(23) as i64;
            let t = self.midnight[d] + hour * 3600 + rng.gen_range(0..3600);
            if t >= self.t0 && t < self.now {
                return t;
            }
        }
        rng.gen_range(self.t0..self.now)
    }
}

// ---------------------------------------------------------------------------------------------
// Names, streets and places.

struct Background {
    weight: u32,
    /// Comma-separated, like the other word lists (rustfmt leaves string literals be).
    first: &'static str,
    last: &'static str,
}

/// Common first names and surnames in London, grouped so a person's names usually go together.
const BACKGROUNDS: [Background; 10] = [
    Background {
        weight: 52,
        first: "James, John, David, Michael, Daniel, Thomas, Christopher, Mark, Paul, Andrew, Robert, Richard, \
        Peter, Stephen, Matthew, George, Joseph, Ryan, Jack, Harry, Oliver, Samuel, Liam, Connor, Gary, \
        Dean, Wayne, Craig, Sean, Declan, Sarah, Emma, Susan, Margaret, Mary, Claire, Karen, Julie, Lisa, \
        Michelle, Nicola, Joanne, Helen, Rachel, Rebecca, Laura, Hannah, Sophie, Charlotte, Emily, Olivia, \
        Chloe, Jade, Kelly, Tracey, Sharon, Linda, Jean, Pauline, Siobhan, Aoife",
        last: "Smith, Jones, Williams, Brown, Taylor, Davies, Wilson, Evans, Thomas, Johnson, Roberts, Walker, \
        Wright, Robinson, Thompson, White, Hughes, Edwards, Green, Hall, Wood, Harris, Lewis, Martin, \
        Jackson, Clarke, Turner, Hill, Scott, Cooper, Morris, Ward, Moore, King, Watson, Baker, Harrison, \
        Morgan, Young, Allen, Mitchell, James, Anderson, Phillips, Bell, Parker, Kelly, Murphy, O'Brien, \
        O'Connor, Ryan, Walsh, Byrne, McCarthy, Doyle, Gallagher, Murray, Cox, Richardson, Gray, Knight, \
        Fox, Palmer, Mills, Barnes, Lloyd, Ellis, Price, Webb, Marshall, Simpson, Chapman, Hunt, Holmes, \
        Mason, Shaw, Carter, Collins, Bennett, Jenkins",
    },
    Background {
        weight: 9,
        first: "Mohammed, Muhammad, Ahmed, Ali, Omar, Hassan, Ibrahim, Yusuf, Imran, Tariq, Bilal, Fatima, Aisha, \
        Ayesha, Zainab, Maryam, Nadia, Shabana, Yasmin",
        last: "Khan, Ahmed, Ali, Hussain, Begum, Rahman, Miah, Islam, Uddin, Akhtar, Iqbal, Malik, Butt, Chaudhry, \
        Mahmood, Rashid",
    },
    Background {
        weight: 7,
        first: "Raj, Sanjay, Amit, Vikram, Arjun, Rohan, Sunil, Harpreet, Gurpreet, Priya, Anjali, Sunita, Pooja, \
        Kiran, Neha, Simran, Deepak, Ravi",
        last: "Patel, Singh, Kaur, Sharma, Gupta, Kumar, Shah, Mehta, Joshi, Desai, Chauhan, Parmar, Mistry, Gill, \
        Sandhu, Dhillon, Das, Bhatt",
    },
    Background {
        weight: 8,
        first: "Kwame, Kofi, Chinedu, Emeka, Oluwaseun, Tunde, Femi, Ade, Ngozi, Chioma, Funmilayo, Adaeze, Abena, \
        Grace, Precious, Blessing, Esther",
        last: "Okafor, Okonkwo, Adeyemi, Adebayo, Oyelaran, Mensah, Owusu, Boateng, Asante, Osei, Nwosu, Eze, Obi, \
        Bello, Adeleke, Ogunleye",
    },
    Background {
        weight: 6,
        first: "Tyrone, Marcus, Jermaine, Andre, Delroy, Winston, Leroy, Marcia, Janet, Beverley, Shanice, \
        Chantelle, Jasmine, Denise",
        last: "Campbell, Francis, Grant, Stewart, Reid, Gordon, Henry, Samuels, Bailey, Brown, Williams, Thompson, \
        Clarke, Forbes, Morrison",
    },
    Background {
        weight: 7,
        first: "Piotr, Tomasz, Krzysztof, Marek, Andrei, Florin, Ionut, Agnieszka, Katarzyna, Magdalena, Anna, \
        Elena, Ioana, Daria",
        last: "Kowalski, Nowak, Wisniewski, Wojcik, Kaminski, Lewandowski, Zielinski, Popescu, Ionescu, Popa, \
        Dumitru, Stan, Horvath, Petrov",
    },
    Background {
        weight: 4,
        first: "Mehmet, Mustafa, Emre, Ayse, Elif, Zeynep, Leila, Andreas, Nikos, Eleni",
        last: "Yilmaz, Kaya, Demir, Celik, Sahin, Ozturk, Arslan, Papadopoulos, Georgiou, Christodoulou, Nicolaou",
    },
    Background {
        weight: 4,
        first: "Luca, Marco, Jose, Carlos, Joao, Sofia, Giulia, Maria, Ana, Ines, Lucia",
        last: "Rossi, Russo, Esposito, Silva, Santos, Ferreira, Pereira, Rodrigues, Costa, Fernandes, Garcia, \
        Martinez, Gomes",
    },
    Background {
        weight: 2,
        first: "Wei, Jun, Hao, Mei, Li, Ying, Minh, Linh, Thanh",
        last: "Chen, Wang, Zhang, Liu, Huang, Wong, Nguyen, Tran, Pham, Lam",
    },
    Background {
        weight: 1,
        first: "Abdi, Abdirahman, Mahad, Hodan, Amina, Fadumo, Ayaan",
        last: "Abdi, Mohamed, Hussein, Farah, Warsame, Osman, Jama, Ahmed",
    },
];

/// Stems of common London street names.
const STREET_STEMS: &str =
    "Station, Church, Park, Victoria, Albert, Queen's, King's, Manor, Mill, Windsor, York, Stanley, \
    Alexandra, Richmond, Cedar, Elm, Oak, Ash, Beech, Chestnut, Willow, Acacia, Holly, Cromwell, \
    Nelson, Wellington, Gladstone, Palmerston, Milton, Shakespeare, Tennyson, Byron, Chaucer, Dickens, \
    Kingsley, Warwick, Sandringham, Balmoral, Clarence, Cambridge, Oxford, Devonshire, Bedford, \
    Salisbury, Lansdowne, Belmont, Springfield, Highfield, Westfield, Brookfield, Fairfield, Mayfield, \
    Chatsworth, Kenilworth, Coronation, Jubilee, Regent, Trinity, St John's, St Mary's, St Paul's, \
    Chapel, School, Marsh, Meadow, Orchard, Garden, Cavendish, Grosvenor, Portland, Clifton, Hamilton, \
    Thornton, Norfolk, Suffolk, Essex, Kent, Surrey, Sussex, Dorset, Devon, Somerset, Lancaster, \
    Durham, Woodland, Forest, Heath, Lime, Sycamore, Hawthorn, Laburnum, Poplar, Rowan, Maple, Hazel, \
    Myrtle, Rosebery, Beaconsfield, Lincoln, Cranbrook, Burlington, Egerton, Melbourne, Sidney, \
    Raleigh, Drake, Churchill, Milner, Russell, Howard, Percy, Spencer, Stanhope, Waverley, Avondale, \
    Elmwood, Oakwood, Ravenscourt, Hartington, Mansfield, Ferndale, Rosedale, Hollybush, Malvern, \
    Chiltern, Pembroke, Carlton, Tavistock, Northumberland, Denmark, Hanover, Brunswick, Coldharbour, \
    Vicarage, Rectory, Hampton, Ashburton, Glenfield, Stamford, Fernhill, Marlborough, Beresford, \
    Blenheim, Claremont, Edinburgh, Gloucester, Kingston, Lyndhurst, Somerville, Wolseley, Arundel, \
    Buckingham, Cowper";

/// Street suffixes with their rough frequency in London.
const STREET_SUFFIXES: &[(&str, u32)] = &[
    ("Road", 40),
    ("Street", 12),
    ("Avenue", 10),
    ("Close", 8),
    ("Gardens", 6),
    ("Lane", 5),
    ("Grove", 4),
    ("Way", 4),
    ("Crescent", 3),
    ("Place", 3),
    ("Drive", 3),
    ("Terrace", 2),
    ("Walk", 1),
    ("Mews", 1),
    ("Rise", 1),
    ("Square", 1),
    ("Hill", 1),
];

/// Names for parks, estates, stations and the like.
const PLACE_STEMS: &str =
    "Albert, Windsor, Cavendish, Grosvenor, Highfield, Springfield, Westfield, Brookfield, Mayfield, \
    Kingsmead, Northfield, Oakwood, Elmwood, Ravenscourt, Tennyson, Shakespeare, Milton, Dickens, \
    Chaucer, Wellington, Nelson, Churchill, Gladstone, Palmerston, Brunswick, Hanover, Trinity, \
    Coldharbour, Clarence, Chatsworth, Kenilworth, Lansdowne, Belmont, Fairfield, Rosebery, \
    Beaconsfield, Waverley, Avondale, Ferndale, Rosedale, Hollybush, Malvern, Chiltern, Pembroke, \
    Carlton, Tavistock, Marlborough, Blenheim, Claremont, Somerville, Wolseley, Arundel, Cowper, \
    Ashburton, Glenfield, Fernhill, Lyndhurst, Hartington, Mansfield, Burlington, Melbourne, Raleigh, \
    Russell, Spencer, Stanhope, Hamilton, Thornton, Clifton, Sandringham, Balmoral, Kingsley, Byron, \
    Cromwell, Alexandra, Meadowbank, Brookside, Woodside, Parkside, Millfield, Larkhall, Heathfield, \
    Ashmead, Oakfield, Greenway, Lindens";

const HIGH_STREETS: &str =
    "High Street, High Road, The Broadway, London Road, Station Parade, The Parade, Market Street, \
    Broadway";

const SHOPS: &str =
    "Tesco Express, Sainsbury's Local, Co-op, Lidl, Iceland, McDonald's, KFC, Chicken Cottage, Greggs, \
    Costa Coffee, Boots, Paddy Power, William Hill, Ladbrokes, Poundland, Londis, Premier Stores, \
    Best-one, the Red Lion, the Crown, the Royal Oak, the White Hart, the King's Head, \
    the Railway Tavern, the cash machine, the launderette, the chicken shop, the off-licence";

/// Letters Royal Mail uses in the inward code.
const INWARD_LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";

/// Boroughs with more flats than houses.
const INNER: &str =
    "Camden, Islington, Westminster, Kensington and Chelsea, Tower Hamlets, Hackney, Southwark, Lambeth, \
    Hammersmith and Fulham, Wandsworth, Newham, Lewisham, Haringey";

/// Relative ASB volume by borough (Westminster and the busy inner boroughs high, the leafy outer
/// ones low): shares people, and so incidents, between boroughs.
fn borough_weight(b: &Borough) -> f64 {
    match b.name {
        "Westminster" => 1.9,
        "Lambeth" | "Southwark" | "Newham" | "Tower Hamlets" | "Croydon" => 1.35,
        "Hackney" | "Haringey" | "Brent" | "Lewisham" | "Ealing" | "Enfield" | "Camden" | "Islington" => 1.2,
        "Barnet" | "Greenwich" | "Waltham Forest" | "Hillingdon" | "Hounslow" | "Wandsworth" | "Redbridge" => 1.05,
        "Richmond upon Thames" | "Kingston upon Thames" | "Sutton" | "Harrow" => 0.6,
        "Bexley" | "Bromley" | "Havering" | "Merton" => 0.8,
        _ => 0.95,
    }
}

fn words(list: &'static str) -> Vec<&'static str> {
    list.split(',').map(str::trim).filter(|w| !w.is_empty()).collect()
}

/// The word lists, split once.
struct Words {
    backgrounds: Vec<((), u32)>,
    first: Vec<Vec<&'static str>>,
    last: Vec<Vec<&'static str>>,
    street_stems: Vec<&'static str>,
    place_stems: Vec<&'static str>,
    high_streets: Vec<&'static str>,
    shops: Vec<&'static str>,
    inner: Vec<&'static str>,
}

impl Words {
    fn new() -> Words {
        Words {
            backgrounds: BACKGROUNDS.iter().map(|b| ((), b.weight)).collect(),
            first: BACKGROUNDS.iter().map(|b| words(b.first)).collect(),
            last: BACKGROUNDS.iter().map(|b| words(b.last)).collect(),
            street_stems: words(STREET_STEMS),
            place_stems: words(PLACE_STEMS),
            high_streets: words(HIGH_STREETS),
            shops: words(SHOPS),
            inner: words(INNER),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PersonKind {
    Caller,
    Subject,
    Witness,
}

struct StreetInfo {
    name: String,
    lat: f64,
    lon: f64,
    postcode: String,
    max_number: u32,
}

/// One borough's hotspots and people pools. Its residential places and people are numbered
/// alike (person `p` lives at the place as far into the borough's places as `p` is into its
/// people); its hotspots follow the residential places.
struct BoroughWorld {
    index: usize,
    hot_start: u32,
    hot_n: u32,
    subjects: Vec<u32>,
    witnesses: Vec<u32>,
}

/// A caller, as the incident generator needs them.
struct Caller {
    person: u32,
    home: u32,
    /// Position in `Gen::boroughs` (boroughs with people only).
    borough: u16,
    /// 0 occasional (1–5 reports), 1 repeat (6–10), 2 heavy (11+).
    class: u8,
    /// Usual type per category: indexes into the category's type table.
    prefs: [u8; 3],
    focus_hot: u32,
    neighbour: u32,
    disabled: bool,
    isolated: bool,
    children: bool,
    /// Offset from t0 of the last report, or NONE.
    last: u32,
}

// ---------------------------------------------------------------------------------------------
// Incident types and words.

const PERSONAL_TYPES: &[(u16, u32)] = &[(204, 42), (211, 22), (202, 16), (217, 14), (206, 4), (201, 2)];
const NUISANCE_TYPES: &[(u16, u32)] =
    &[(202, 50), (201, 14), (211, 10), (209, 6), (212, 5), (207, 4), (213, 2), (210, 2), (206, 2), (205, 2), (204, 2)];
/// Nuisance in the fireworks season (late October to mid November, New Year).
const NUISANCE_FIREWORKS: &[(u16, u32)] =
    &[(202, 50), (201, 14), (211, 10), (209, 5), (212, 4), (207, 3), (213, 45), (210, 1), (206, 2), (205, 2), (204, 2)];
const ENVIRONMENTAL_TYPES: &[(u16, u32)] = &[(205, 60), (200, 25), (206, 15)];
/// Personal, nuisance and environmental shares (MPS 2018/19, per mille).
const CATEGORY_SHARES: &[(Category, u32)] =
    &[(Category::Personal, 115), (Category::Nuisance, 855), (Category::Environmental, 30)];

fn types_for(cat: Category) -> &'static [(u16, u32)] {
    match cat {
        Category::Personal => PERSONAL_TYPES,
        Category::Nuisance => NUISANCE_TYPES,
        Category::Environmental => ENVIRONMENTAL_TYPES,
    }
}

fn narrative_templates(code: u16, cat: Category) -> &'static [&'static str] {
    match (code, cat) {
        (204, _) => &[
            "Neighbours shouting and banging on the walls {when}; caller says it happens most nights.",
            "Ongoing dispute with the neighbour, who shouted abuse at the caller over the garden fence {when}.",
            "Visitors to the flat below coming and going at all hours and slamming the communal door.",
            "Neighbour kicked the caller's door and made threats after the caller complained about noise.",
            "Neighbour's children throwing things into the caller's garden; parents abusive when asked to stop.",
        ],
        (211, Category::Personal) => &[
            "Loud music from the neighbouring flat {when}; caller believes it is done deliberately after an argument.",
            "Neighbour bangs on the ceiling and plays music at full volume whenever the caller is home.",
            "Drilling and hammering from next door late at night; caller unable to sleep and feels targeted.",
        ],
        (211, _) => &[
            "Loud music from a house party {when}; guests spilling onto the street.",
            "Car stereo playing loud music outside {when}, engine revving.",
            "Group with a speaker playing music loudly {when}.",
            "Shouting and loud music from a flat {when}; several neighbours affected.",
        ],
        (217, _) => &[
            "Caller receiving repeated abusive text messages from a former neighbour.",
            "Offensive comments about the caller posted on a local social media group.",
            "Silent calls to the caller's phone several times a day; caller believes it is a neighbour.",
            "Caller sent threatening voice notes after a dispute over parking.",
        ],
        (202, Category::Personal) => &[
            "Group of youths knocking on the caller's door and running off {when}; caller feels targeted.",
            "Caller verbally abused by a group of teenagers outside their home {when}.",
            "Eggs thrown at the caller's windows {when}; same group as before according to the caller.",
        ],
        (202, _) => &[
            "Group of about {n} youths shouting and swearing {when}.",
            "Large group gathering {when}, drinking and being abusive to passers-by.",
            "Youths on bikes riding on the pavement and intimidating pedestrians {when}.",
            "Group congregating, smoking cannabis and leaving rubbish {when}.",
            "Group of about {n} throwing stones and kicking bins over {when}.",
            "Males arguing loudly in the street {when}; no weapons seen.",
        ],
        (201, _) => &[
            "Mopeds racing up and down the road {when}, riders in balaclavas.",
            "Cars doing doughnuts in the car park {when}.",
            "Off-road motorbike being ridden across the park {when}.",
            "Car parked across the footway with its engine running and music playing {when}.",
        ],
        (209, _) => &[
            "Street drinkers outside the shop shouting at passers-by {when}.",
            "Group drinking on the benches {when}, urinating in doorways.",
            "Drinkers sitting by the bus stop, abusive to people waiting {when}.",
        ],
        (212, _) => &[
            "Male begging aggressively by the cash machine {when}.",
            "Rough sleeper in a shop doorway; staff say customers are approached for money.",
            "People begging at the station entrance {when}, following passengers.",
        ],
        (213, _) => &[
            "Fireworks being thrown at passing cars {when}.",
            "Youths setting off fireworks in the street {when}; one aimed at a bus stop.",
            "Fireworks let off in the estate courtyard {when}, frightening residents.",
        ],
        (207, _) => &[
            "People getting into a derelict building through broken hoarding {when}.",
            "Youths climbing onto the roofs of the garages {when}.",
            "Group in the communal garden, which is for residents only, {when}.",
        ],
        (210, _) => &[
            "Kerb-crawling reported in the area {when}.",
            "Women soliciting by the alleyway {when}; used condoms left behind.",
        ],
        (206, Category::Personal) => &[
            "Neighbour's dog left barking all day; caller says the neighbour laughs when asked to stop.",
            "Neighbour lets their dog foul outside the caller's front door.",
        ],
        (206, _) => &[
            "Dog off its lead chasing children in the play area {when}.",
            "Two dogs fighting in the park {when}; owner not in control.",
            "Dogs barking constantly in a back garden {when}.",
        ],
        (205, _) => &[
            "Fly-tipped mattresses and black bags dumped overnight.",
            "Used needles and foil found on the ground; caller worried about children.",
            "Nitrous oxide canisters littered everywhere after a gathering {when}.",
        ],
        (200, _) => &[
            "Car with flat tyres and no tax parked in the same place for weeks.",
            "Burnt-out moped left on the pavement.",
            "Van with smashed windows abandoned for over a month.",
        ],
        _ => &["Anti-social behaviour reported {when}."],
    }
}

fn when_words(hour: i64) -> &'static str {
    match hour {
        0..=5 => "in the early hours",
        6..=11 => "this morning",
        12..=16 => "this afternoon",
        17..=20 => "this evening",
        _ => "tonight",
    }
}

/// The default questionnaire's ids, in the bit order answers are packed in.
const QUESTIONS: [&str; 12] = [
    "happened_before",
    "reported_elsewhere",
    "feel_targeted",
    "disability_or_illness",
    "hate_motivated",
    "threats_or_violence",
    "unsafe_at_home",
    "health_sleep_work",
    "children_affected",
    "isolated",
    "considering_moving",
    "fear_of_reprisal",
];

/// Assessments by packed answers and the repeat flag, filled on first use.
struct RiskMemo {
    questionnaire: Questionnaire,
    label: String,
    memo: Vec<Option<(u32, RiskLevel)>>,
}

impl RiskMemo {
    fn new() -> RiskMemo {
        let questionnaire = Policies::defaults().risk;
        let label = questionnaire.label();
        RiskMemo { questionnaire, label, memo: vec![None; 1 << (QUESTIONS.len() + 1)] }
    }

    fn assess(&mut self, answers: u16, repeat: bool) -> (u32, RiskLevel) {
        let key = (usize::from(answers) << 1) | usize::from(repeat);
        if let Some(hit) = self.memo[key] {
            return hit;
        }
        let map: BTreeMap<String, bool> =
            QUESTIONS.iter().enumerate().map(|(i, q)| (q.to_string(), answers & (1 << i) != 0)).collect();
        let a = self.questionnaire.assess(&map, repeat);
        self.label = a.questionnaire;
        self.memo[key] = Some((a.score, a.level));
        (a.score, a.level)
    }
}

// ---------------------------------------------------------------------------------------------
// The generator.

struct Gen {
    plan: Plan,
    rng: ChaCha8Rng,
    words: Words,
    t0: i64,
    now: i64,
    boroughs: Vec<BoroughWorld>,
    /// Street of each place (NONE for hotspots), and each street's residential place range.
    place_street: Vec<u32>,
    streets: Vec<(u32, u32)>,
    kinds: Vec<PersonKind>,
    callers: Vec<Caller>,
    places: usize,
    people: usize,
}

impl Gen {
    fn new(plan: Plan) -> Gen {
        let now = plan.opts.now.timestamp();
        let t0 = now - i64::from(plan.opts.years) * 365 * DAY;
        let rng = ChaCha8Rng::seed_from_u64(plan.opts.seed);
        Gen {
            plan,
            rng,
            words: Words::new(),
            t0,
            now,
            boroughs: vec![],
            place_street: vec![],
            streets: vec![],
            kinds: vec![],
            callers: vec![],
            places: 0,
            people: 0,
        }
    }

    fn place_id(&self, idx: u32) -> i64 {
        self.plan.place_base + 1 + i64::from(idx)
    }

    fn person_id(&self, idx: u32) -> i64 {
        self.plan.person_base + 1 + i64::from(idx)
    }

    fn run(mut self, tx: &mpsc::Sender<Msg>) -> Result<Summary> {
        let mut out = Out { tx, batch: Batch::default() };
        let weights: Vec<f64> = MPS_BOROUGHS.iter().map(borough_weight).collect();
        let per_borough = allocate(&mut self.rng, &weights, self.plan.opts.people);
        for (bi, n) in per_borough.into_iter().enumerate() {
            if n > 0 {
                self.borough(bi, n, &mut out)?;
            }
        }
        out.flush()?;
        self.incidents(&mut out)
    }

    // --- places and people ---

    fn street_names(&mut self, n: usize, high: usize) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut names = Vec::with_capacity(n);
        let mut highs = self.words.high_streets.clone();
        for _ in 0..high.min(highs.len()) {
            let i = self.rng.gen_range(0..highs.len());
            let name = highs.swap_remove(i).to_string();
            seen.insert(name.clone());
            names.push(name);
        }
        let mut tries = 0;
        while names.len() < n {
            let stem = *pick(&mut self.rng, &self.words.street_stems);
            let (suffix, _) = STREET_SUFFIXES[weighted(&mut self.rng, STREET_SUFFIXES)];
            let name = format!("{stem} {suffix}");
            tries += 1;
            if stem == suffix || (!seen.insert(name.clone()) && tries < 50 * n) {
                continue;
            }
            names.push(name);
        }
        names
    }

    fn postcode(&mut self, district: &str, sector: u32, used: &mut HashSet<String>) -> String {
        loop {
            let a = *pick(&mut self.rng, INWARD_LETTERS) as char;
            let b = *pick(&mut self.rng, INWARD_LETTERS) as char;
            let code = format!("{district} {sector}{a}{b}");
            // 400 units a sector: a full sector moves on rather than loop for ever.
            if used.insert(code.clone()) || used.len() > 3000 {
                return code;
            }
        }
    }

    fn borough(&mut self, bi: usize, n: usize, out: &mut Out) -> Result<()> {
        let b = &MPS_BOROUGHS[bi];
        let org = self.plan.orgs.boroughs[bi];
        let created = self.t0 - 400 * DAY;
        let person_start = self.people as u32;
        let caller_start = self.callers.len();
        let mut world = BoroughWorld { index: bi, hot_start: 0, hot_n: 0, subjects: vec![], witnesses: vec![] };

        let n_streets = (n / 6).clamp(40.min(n), 700).max(1);
        let n_high = if n_streets >= 10 { 1 + usize::from(n_streets >= 60) + usize::from(n_streets >= 200) } else { 0 };
        let names = self.street_names(n_streets, n_high);
        let weights: Vec<f64> =
            (0..n_streets).map(|i| (0.7 * normal(&mut self.rng)).exp() * if i < n_high { 2.5 } else { 1.0 }).collect();
        let households: Vec<usize> = if n >= n_streets {
            allocate(&mut self.rng, &weights, n - n_streets).into_iter().map(|k| k + 1).collect()
        } else {
            allocate(&mut self.rng, &weights, n)
        };
        let flat_p = if self.words.inner.contains(&b.name) { 0.45 } else { 0.2 };
        let mut used = HashSet::new();
        let mut infos = Vec::with_capacity(n_streets);
        for (si, name) in names.into_iter().enumerate() {
            let count = households[si];
            let (r, theta) = (2_500.0 * self.rng.gen::<f64>().sqrt(), self.rng.gen::<f64>() * std::f64::consts::TAU);
            let (clat, clon) = shift(b.lat, b.lon, r * theta.cos(), r * theta.sin());
            let district = *pick(&mut self.rng, b.districts);
            let sector = self.rng.gen_range(0..10);
            let mut postcode = self.postcode(district, sector, &mut used);
            let first_postcode = postcode.clone();
            let flats = if si < n_high { 0.8 } else { flat_p };
            let mut buildings = vec![];
            let mut left = count;
            while left > 0 {
                let k =
                    if left >= 2 && chance(&mut self.rng, flats) { self.rng.gen_range(2..=12).min(left) } else { 1 };
                buildings.push(k);
                left -= k;
            }
            // The street has more houses than the system knows households in: number the known
            // ones by a sorted sample of the street's numbers, a new postcode unit every 30.
            let houses = ((45.0 * (0.7 * normal(&mut self.rng)).exp()) as usize).clamp(8, 400).max(buildings.len());
            let mut numbers = Vec::with_capacity(buildings.len());
            for k in 1..=houses {
                if self.rng.gen_range(0..houses + 1 - k) < buildings.len() - numbers.len() {
                    numbers.push(k as u32);
                }
            }
            let length = (2.5 * houses as f64).clamp(20.0, 150.0);
            let bearing = self.rng.gen::<f64>() * std::f64::consts::PI;
            let street = self.streets.len() as u32;
            let first = self.places as u32;
            let mut block = 0;
            for (&flats_here, &number) in buildings.iter().zip(&numbers) {
                if number / 30 != block {
                    block = number / 30;
                    postcode = self.postcode(district, sector, &mut used);
                }
                let along = (f64::from(number) / houses as f64 - 0.5) * length;
                let side = if number % 2 == 0 { 8.0 } else { -8.0 };
                let (north, east) =
                    (along * bearing.cos() - side * bearing.sin(), along * bearing.sin() + side * bearing.cos());
                let (lat, lon) = shift(clat, clon, north, east);
                let cell = h3(lat, lon);
                let lettered = flats_here <= 4 && chance(&mut self.rng, 0.5);
                for f in 0..flats_here {
                    let address = match (flats_here, lettered) {
                        (1, _) => format!("{number} {name}"),
                        (_, true) => format!("Flat {}, {number} {name}", char::from(b'A' + f as u8)),
                        _ => format!("Flat {}, {number} {name}", f + 1),
                    };
                    self.household(&mut world, org, created, address, &postcode, (lat, lon, cell), street, out)?;
                }
            }
            self.streets.push((first, self.places as u32 - first));
            infos.push(StreetInfo { name, lat: clat, lon: clon, postcode: first_postcode, max_number: houses as u32 });
        }

        // Hotspots: shops, pubs, parks, stations, estates; some draw far more reports than others.
        world.hot_start = self.places as u32;
        let hot_n = (n_streets / 4).clamp(8, 150);
        let mut seen = HashSet::new();
        for _ in 0..hot_n {
            let mut tries = 0;
            let (address, si) = loop {
                let (address, si) = self.hotspot_address(&infos, n_high);
                tries += 1;
                if seen.insert(address.clone()) || tries > 20 {
                    break (address, si);
                }
            };
            let s = &infos[si];
            let (north, east) = (self.rng.gen_range(-120.0..120.0), self.rng.gen_range(-120.0..120.0));
            let (lat, lon) = shift(s.lat, s.lon, north, east);
            out.batch.places.push(PlaceRow {
                id: self.place_id(self.places as u32),
                address_norm: Some(normalise_address(&address)),
                address: Some(address),
                postcode: Some(s.postcode.clone()),
                lat: Some(lat),
                lon: Some(lon),
                h3: h3(lat, lon),
                borough_id: Some(org),
                created_at: created,
            });
            self.place_street.push(NONE);
            self.places += 1;
            out.flush_if_full()?;
        }
        world.hot_n = hot_n as u32;

        // Callers: their usual problem, the hotspot they complain about, a neighbour they name.
        for ci in caller_start..self.callers.len() {
            let person = self.callers[ci].person;
            let home = self.callers[ci].home;
            let mut neighbour = NONE;
            for d in [1i64, -1, 2, -2, 3, -3, 4, -4, 5, -5] {
                let p = i64::from(person) + d;
                if p < i64::from(person_start) || p >= i64::from(person_start) + n as i64 {
                    continue;
                }
                let (p, place) = (p as u32, (i64::from(home) + d) as u32);
                if self.kinds[p as usize] == PersonKind::Subject
                    && self.place_street[place as usize] == self.place_street[home as usize]
                {
                    neighbour = p;
                    break;
                }
            }
            if neighbour == NONE && !world.subjects.is_empty() {
                neighbour = world.subjects[zipf(&mut self.rng, world.subjects.len(), 3.0)];
            }
            let prefs = [
                weighted(&mut self.rng, PERSONAL_TYPES) as u8,
                weighted(&mut self.rng, NUISANCE_TYPES) as u8,
                weighted(&mut self.rng, ENVIRONMENTAL_TYPES) as u8,
            ];
            let focus = world.hot_start + zipf(&mut self.rng, hot_n, 1.0) as u32;
            let c = &mut self.callers[ci];
            c.neighbour = neighbour;
            c.prefs = prefs;
            c.focus_hot = focus;
        }
        self.boroughs.push(world);
        Ok(())
    }

    fn hotspot_address(&mut self, infos: &[StreetInfo], n_high: usize) -> (String, usize) {
        let rng = &mut self.rng;
        let any = rng.gen_range(0..infos.len());
        let stem = *pick(rng, &self.words.place_stems);
        let kind = rng.gen_range(0..100);
        if kind < 35 && n_high > 0 {
            let si = rng.gen_range(0..n_high);
            let s = &infos[si];
            let number = rng.gen_range(1..=s.max_number.max(40) + 80);
            return (format!("Outside {}, {number} {}", pick(rng, &self.words.shops), s.name), si);
        }
        let s = &infos[any];
        let number = rng.gen_range(1..=s.max_number);
        let text = match kind {
            0..=49 => match rng.gen_range(0..5) {
                0 => format!("{stem} Park"),
                1 => format!("{stem} Recreation Ground"),
                2 => format!("Children's play area, {stem} Park"),
                3 => format!("{stem} Playing Fields"),
                _ => format!("{stem} Common"),
            },
            50..=61 => match rng.gen_range(0..4) {
                0 => format!("{stem} station"),
                1 => format!("Forecourt, {stem} station"),
                2 => format!("{stem} bus station"),
                _ => format!("Bus stop outside {number} {}", s.name),
            },
            62..=79 => match rng.gen_range(0..4) {
                0 => format!("Stairwell, {stem} House, {} Estate", pick(rng, &self.words.place_stems)),
                1 => format!("Car park, {stem} Estate"),
                2 => format!("Garages rear of {number} {}", s.name),
                _ => format!("Communal garden, {stem} Court"),
            },
            80..=89 => match rng.gen_range(0..2) {
                0 => format!("Alleyway beside {number} {}", s.name),
                _ => format!("Underpass, {}", s.name),
            },
            _ => match rng.gen_range(0..4) {
                0 => format!("{stem} Library"),
                1 => format!("{stem} Leisure Centre"),
                2 => format!("Car park, {stem} Shopping Centre"),
                _ => format!("Outside {stem} Primary School"),
            },
        };
        (text, any)
    }

    #[allow(clippy::too_many_arguments)]
    fn household(
        &mut self,
        world: &mut BoroughWorld,
        org: i64,
        created: i64,
        address: String,
        postcode: &str,
        (lat, lon, cell): (f64, f64, Option<i64>),
        street: u32,
        out: &mut Out,
    ) -> Result<()> {
        let place = self.places as u32;
        let person = self.people as u32;
        let u: f64 = self.rng.gen();
        // The first person calls, so even a tiny run has someone to report its incidents.
        let kind = if u < 0.6 || person == 0 {
            PersonKind::Caller
        } else if u < 0.9 {
            PersonKind::Subject
        } else {
            PersonKind::Witness
        };
        let name = self.name();
        let parsed = PersonName::parse(&name).ok();
        let (dob_missing, phone_p, home_known, years) = match kind {
            PersonKind::Caller => (0.08, 0.97, 1.0, (1940, 2001, 1972.0, 15.0)),
            PersonKind::Subject => (0.30, 0.75, 0.65, (1960, 2006, 1996.0, 9.0)),
            PersonKind::Witness => (0.15, 0.90, 0.9, (1945, 2004, 1980.0, 15.0)),
        };
        let dob = (!chance(&mut self.rng, dob_missing)).then(|| self.date_of_birth(years)).flatten();
        let phone = chance(&mut self.rng, phone_p).then(|| self.phone(person));
        let home = chance(&mut self.rng, home_known);
        let place_id = self.place_id(place);
        out.batch.places.push(PlaceRow {
            id: place_id,
            address_norm: Some(normalise_address(&address)),
            address: Some(address.clone()),
            postcode: Some(postcode.to_string()),
            lat: Some(lat),
            lon: Some(lon),
            h3: cell,
            borough_id: Some(org),
            created_at: created,
        });
        out.batch.people.push(PersonRow {
            id: self.person_id(person),
            name: Some(name.clone()),
            name_norm: parsed.as_ref().map(|p| p.normalised().to_string()),
            name_key: parsed.as_ref().map(|p| p.phonetic_key().to_string()),
            date_of_birth: dob,
            phone,
            address: home.then_some(address),
            postcode: home.then(|| postcode.to_string()),
            home_place_id: home.then_some(place_id),
            created_at: created,
        });
        match kind {
            PersonKind::Caller => self.callers.push(Caller {
                person,
                home: place,
                borough: self.boroughs.len() as u16,
                class: 0,
                prefs: [0; 3],
                focus_hot: NONE,
                neighbour: NONE,
                disabled: chance(&mut self.rng, 0.14),
                isolated: chance(&mut self.rng, 0.12),
                children: chance(&mut self.rng, 0.3),
                last: NONE,
            }),
            PersonKind::Subject => world.subjects.push(person),
            PersonKind::Witness => world.witnesses.push(person),
        }
        self.kinds.push(kind);
        self.place_street.push(street);
        self.places += 1;
        self.people += 1;
        out.flush_if_full()
    }

    fn name(&mut self) -> String {
        let bg = weighted(&mut self.rng, &self.words.backgrounds);
        let firsts = &self.words.first[bg];
        let first = firsts[zipf(&mut self.rng, firsts.len(), 8.0)];
        // One in ten takes a surname from another background (marriage, adoption, heritage).
        let lasts =
            if chance(&mut self.rng, 0.1) { pick(&mut self.rng, &self.words.last) } else { &self.words.last[bg] };
        let last = lasts[zipf(&mut self.rng, lasts.len(), 8.0)];
        format!("{first} {last}")
    }

    fn date_of_birth(&mut self, (lo, hi, mean, sd): (i32, i32, f64, f64)) -> Option<NaiveDate> {
        let year = ((mean + sd * normal(&mut self.rng)).round() as i32).clamp(lo, hi);
        let day = self.rng.gen_range(1..=365);
        NaiveDate::from_yo_opt(year, day)
    }

    /// A UK mobile in E.164 (07, then 4, 5, 7, 8 or 9, then eight digits), unique to the person
    /// id across runs: the id through a fixed permutation of the 500 million such numbers.
    fn phone(&self, person: u32) -> String {
        let n = phone_index(self.person_id(person) as u64);
        let lead = [4, 5, 7, 8, 9][(n / 100_000_000) as usize];
        format!("+447{lead}{:08}", n % 100_000_000)
    }

    // --- incidents ---

    fn incidents(mut self, out: &mut Out) -> Result<Summary> {
        let total = self.plan.opts.incidents;
        let cal = Calendar::new(self.t0, self.now);
        let days = cal.days();

        // How many reports each caller makes: a mixture (most once or twice, a repeat group, a
        // heavy tail), its heavy part scaled so the mean matches incidents per caller.
        let n_callers = self.callers.len();
        let mean = if n_callers == 0 { 0.0 } else { total as f64 / n_callers as f64 };
        let tail = ((mean - 0.75 * 1.88 - 0.107 * 8.0) / 0.143 - 11.0).max(1.0);
        let cap = (days as f64 * 1.5).max(12.0);
        let targets: Vec<f64> = (0..n_callers)
            .map(|_| {
                let u: f64 = self.rng.gen();
                if u < 0.75 {
                    1.0 + weighted(&mut self.rng, &[((), 52), ((), 24), ((), 12), ((), 8), ((), 4)]) as f64
                } else if u < 0.857 {
                    f64::from(self.rng.gen_range(6..=10))
                } else {
                    (11.0 + tail * (normal(&mut self.rng) - 0.5).exp()).min(cap)
                }
            })
            .collect();
        let counts = allocate(&mut self.rng, &targets, total);
        drop(targets);

        // When: occasional callers at random over the whole period; repeat callers in an episode
        // of under a year; the heaviest over longer. Keys pack (offset from t0, caller).
        let mut keys: Vec<u64> = Vec::with_capacity(total);
        let mut times: Vec<u32> = vec![];
        let (mut active, mut six, mut ten) = (0, 0, 0);
        for (ci, &count) in counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let (lo, hi) = if count < 6 {
                (0, days - 1)
            } else {
                let span = if count < 22 {
                    self.rng.gen_range(if count < 11 { 60 } else { 120 }..=340)
                } else {
                    let longest = (340 * count / 11).clamp(181, days.max(181));
                    self.rng.gen_range(180..=longest)
                }
                .min(days);
                let start = self.rng.gen_range(0..=days - span);
                (start, start + span - 1)
            };
            times.clear();
            for _ in 0..count {
                times.push((cal.sample(&mut self.rng, lo, hi) - self.t0) as u32);
            }
            times.sort_unstable();
            let mut best = 0;
            let mut j = 0;
            for i in 0..times.len() {
                while times[i] - times[j] >= YEAR_SECS {
                    j += 1;
                }
                best = best.max(i - j + 1);
            }
            active += 1;
            six += usize::from(best >= 6);
            ten += usize::from(best > 10);
            self.callers[ci].class = if count >= 11 { 2 } else { u8::from(count >= 6) };
            keys.extend(times.iter().map(|t| (u64::from(*t) << 32) | ci as u64));
        }
        drop(counts);
        keys.sort_unstable();

        let mut sup = Supervisor::new(&self.plan, self.now);
        let mut inc = IncidentGen {
            risk: RiskMemo::new(),
            cal,
            sequences: BTreeMap::new(),
            year: (i32::MIN, i64::MIN),
            categories: [0; 3],
            risk_levels: [0; 3],
        };
        for (n, key) in keys.iter().enumerate() {
            let t = self.t0 + (key >> 32) as i64;
            let ci = (key & 0xffff_ffff) as usize;
            let mut row = self.incident(&mut inc, n, t, ci);
            let borough = self.plan.orgs.boroughs[self.callers[ci].borough as usize];
            let police = row.organisation_id == self.plan.orgs.force;
            sup.supervise(&mut row, borough, police, &mut out.batch);
            out.batch.incidents.push(row);
            if out.batch.incidents.len() >= BATCH {
                out.flush()?;
            }
        }
        sup.dip_samples(&mut out.batch);
        out.flush()?;
        Ok(Summary {
            people: self.people,
            places: self.places,
            incidents: keys.len(),
            callers: active,
            callers_6_plus: six,
            callers_over_10: ten,
            categories: inc.categories,
            risk_levels: inc.risk_levels,
            last_sequence: inc.sequences,
        })
    }

    fn incident(&mut self, inc: &mut IncidentGen, n: usize, t: i64, ci: usize) -> IncidentRow {
        let rel = (t - self.t0) as u32;
        let caller = &self.callers[ci];
        let repeat = caller.last != NONE && rel - caller.last < YEAR_SECS;
        let (class, borough_i, home, prefs, focus, neighbour) =
            (caller.class, caller.borough as usize, caller.home, caller.prefs, caller.focus_hot, caller.neighbour);
        let (disabled, isolated, children, person) = (caller.disabled, caller.isolated, caller.children, caller.person);
        self.callers[ci].last = rel;
        let rng = &mut self.rng;
        let world = &self.boroughs[borough_i];
        let day = inc.cal.day_of(t);
        let hour = (t - inc.cal.midnight[day]) / 3600;

        // What.
        let cat = CATEGORY_SHARES[weighted(rng, CATEGORY_SHARES)].0;
        let table = match cat {
            Category::Nuisance if inc.cal.fireworks[day] => NUISANCE_FIREWORKS,
            _ => types_for(cat),
        };
        let ci_cat = cat as usize;
        let loyal = if class > 0 { 0.75 } else { 0.55 };
        let mut type_code = table[weighted(rng, table)].0;
        if chance(rng, loyal) {
            let usual = types_for(cat)[usize::from(prefs[ci_cat])].0;
            if usual != 213 || inc.cal.fireworks[day] {
                type_code = usual;
            }
        }
        inc.categories[ci_cat] += 1;

        // Where: repeat callers' reports cluster at and near home; nuisance otherwise gathers at
        // the borough's hotspots, the popular ones far more than the rest.
        let (s_first, s_len) = self.streets[self.place_street[home as usize] as usize];
        let near = s_first + rng.gen_range(0..s_len.max(1));
        let hot = |rng: &mut ChaCha8Rng| world.hot_start + zipf(rng, world.hot_n as usize, 1.0) as u32;
        let u: f64 = rng.gen();
        let place = match cat {
            Category::Personal if matches!(type_code, 204 | 217) => {
                if u < 0.93 {
                    home
                } else {
                    near
                }
            }
            Category::Personal => {
                if u < 0.8 {
                    home
                } else if u < 0.95 {
                    near
                } else {
                    hot(rng)
                }
            }
            Category::Nuisance if matches!(type_code, 209 | 210 | 212) => {
                if u < 0.5 && class > 0 {
                    focus
                } else if u < 0.85 {
                    hot(rng)
                } else {
                    near
                }
            }
            Category::Nuisance if class > 0 => {
                if u < 0.35 {
                    home
                } else if u < 0.65 {
                    near
                } else if u < 0.9 {
                    focus
                } else {
                    hot(rng)
                }
            }
            Category::Nuisance => {
                if u < 0.55 {
                    hot(rng)
                } else if u < 0.8 {
                    near
                } else {
                    home
                }
            }
            Category::Environmental => {
                if u < 0.5 {
                    near
                } else if u < 0.8 {
                    hot(rng)
                } else {
                    home
                }
            }
        };

        // Who took it, and how it came in.
        let orgs = &self.plan.orgs;
        let u: f64 = rng.gen();
        let (organisation_id, police) = if u < 0.88 {
            (orgs.force, true)
        } else if u < 0.97 {
            (orgs.councils[world.index], false)
        } else if u < 0.99 {
            (orgs.housing, false)
        } else {
            (orgs.victim_support, false)
        };
        let channel = if police {
            [
                (Channel::Phone101, 66),
                (Channel::Phone999, 11),
                (Channel::Online, 18),
                (Channel::InPerson, 3),
                (Channel::Email, 2),
            ]
        } else {
            [
                (Channel::PartnerReferral, 40),
                (Channel::Online, 25),
                (Channel::Email, 20),
                (Channel::InPerson, 8),
                (Channel::Phone101, 7),
            ]
        };
        let channel = channel[weighted(rng, &channel)].0;

        // People: the caller, sometimes a named subject, now and then a witness.
        let victim_p = match cat {
            Category::Personal => 0.95,
            Category::Nuisance => 0.35,
            Category::Environmental => 0.1,
        };
        let role = if chance(rng, victim_p) { Role::Victim } else { Role::Reporter };
        let mut people = vec![(self.plan.person_base + 1 + i64::from(person), role.as_str())];
        let named_p = match (cat, class) {
            (Category::Personal, 0) => 0.45,
            (Category::Personal, _) => 0.6,
            (Category::Nuisance, 0) => 0.13,
            (Category::Nuisance, _) => 0.17,
            (Category::Environmental, _) => 0.06,
        };
        let mut named = false;
        if chance(rng, named_p) {
            let subject = if (cat == Category::Personal || (class > 0 && chance(rng, 0.4))) && neighbour != NONE {
                Some(neighbour)
            } else if !world.subjects.is_empty() {
                Some(world.subjects[zipf(rng, world.subjects.len(), 2.0)])
            } else {
                None
            };
            if let Some(s) = subject {
                people.push((self.plan.person_base + 1 + i64::from(s), Role::Subject.as_str()));
                named = true;
            }
        }
        if !world.witnesses.is_empty() && chance(rng, 0.04) {
            let w = *pick(rng, &world.witnesses);
            people.push((self.plan.person_base + 1 + i64::from(w), Role::Witness.as_str()));
        }

        // Risk: answers as a caller in this situation would give them, scored by the policy.
        let assessed = chance(rng, if police { 0.95 } else { 0.5 });
        let (mut risk_score, mut risk_level, mut risk_questionnaire) = (None, None, None);
        let mut qualifiers = vec![];
        if repeat {
            qualifiers.push(610);
        }
        if assessed {
            let personal = cat == Category::Personal;
            let heavy = class == 2;
            let pc = |p: f64, n: f64, e: f64| match cat {
                Category::Personal => p,
                Category::Nuisance => n,
                Category::Environmental => e,
            };
            let probs: [f64; 12] = [
                if repeat { 0.92 } else { 0.25 },
                pc(0.35, 0.12, 0.2) + if heavy { 0.1 } else { 0.0 },
                pc(0.5, 0.05, 0.02) + if heavy && personal { 0.15 } else { 0.0 },
                if disabled { 0.95 } else { 0.0 },
                pc(0.05, 0.004, 0.0),
                pc(0.07, 0.012, 0.0),
                pc(0.25, 0.03, 0.0),
                pc(0.45, if type_code == 211 { 0.3 } else { 0.08 }, 0.03) + if heavy && personal { 0.15 } else { 0.0 },
                if children { pc(0.5, 0.15, 0.05) } else { 0.0 },
                if isolated { 0.9 } else { 0.0 },
                pc(if heavy { 0.3 } else { 0.15 }, 0.02, 0.0),
                pc(0.15, 0.04, 0.01),
            ];
            let mut answers = 0u16;
            for (i, p) in probs.iter().enumerate() {
                if chance(rng, *p) {
                    answers |= 1 << i;
                }
            }
            let (score, level) = inc.risk.assess(answers, repeat);
            inc.risk_levels[level as usize] += 1;
            risk_score = Some(score);
            risk_level = Some(level.as_str().to_string());
            risk_questionnaire = Some(inc.risk.label.clone());
            if level >= RiskLevel::Medium {
                qualifiers.push(635);
            }
            if answers & (1 << 5) != 0 && personal {
                qualifiers.push(636);
            }
        }

        // Still open if recent, now and then if not.
        let age_days = (self.now - t) as f64 / DAY as f64;
        let open_p = if age_days < 3.0 {
            0.92
        } else if age_days < 30.0 {
            0.92 - 0.8 * (age_days - 3.0) / 27.0
        } else {
            0.03
        };
        let status = if chance(rng, open_p) { "open" } else { "closed" };

        let templates = narrative_templates(type_code, cat);
        let mut narrative =
            pick(rng, templates).replace("{when}", when_words(hour)).replace("{n}", &rng.gen_range(4..=15).to_string());
        if named {
            narrative.push_str(" Caller names the person responsible.");
        }
        if repeat && chance(rng, 0.35) {
            narrative.push_str(" Caller has reported this before.");
        }

        // Reference: the year's sequence, continuing after any incidents already held.
        if t >= inc.year.1 || t < inc.year.1 - 366 * DAY {
            let dt = DateTime::from_timestamp(t, 0).unwrap_or_default();
            let year = dt.year();
            let next = NaiveDate::from_ymd_opt(year + 1, 1, 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc().timestamp())
                .unwrap_or(i64::MAX);
            inc.year = (year, next);
        }
        let year = inc.year.0;
        let seq = inc.sequences.entry(year).or_insert(self.plan.sequence_offset);
        *seq += 1;

        IncidentRow {
            id: self.plan.incident_base + 1 + n as i64,
            reference: IncidentRef::new(year, *seq).to_string(),
            organisation_id,
            received_at: t,
            place_id: Some(self.place_id(place)),
            category: cat.as_str().to_string(),
            type_code,
            narrative,
            status: status.to_string(),
            risk_score,
            risk_level,
            risk_questionnaire,
            qualifiers,
            people,
            channel: channel.as_str(),
            contact_person: Some(self.plan.person_base + 1 + i64::from(person)),
            closing: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Supervision: reviews on the policy's cadence (most on time, some late, some changing the
// category or lowering the risk with a reason), updates to victims at realistic delays, and the
// dip samples of the last few weeks, mostly checked. A stream of its own from the seed, so the
// incidents themselves are as they were before supervision was generated.

/// How long after receipt a case's reviews are generated; older open cases are taken to have
/// left the review cadence (handed to problem-solving), which bounds a long run's reviews.
const REVIEWED_FOR: i64 = 180 * DAY;
const DIP_WEEKS: i64 = 6;

struct Supervisor {
    rng: ChaCha8Rng,
    policy: asb_domain::supervision::SupervisionPolicy,
    per_borough: usize,
    checklist: Vec<String>,
    now: i64,
    next_review: i64,
    /// Police incidents of the last few weeks: (id, received, reference, borough).
    recent: Vec<(i64, i64, String, i64)>,
}

const CHANGE_REASONS: [&str; 4] = [
    "Listened to the call: the behaviour is aimed at the street, not at the caller",
    "Spoke to the caller: the neighbour dispute is targeted at their household",
    "Type corrected after the attending officer's account",
    "Category and type corrected on review of the call",
];
const LOWER_REASONS: [&str; 3] = [
    "Spoke to the victim: the threats have not been repeated and support is in place",
    "Subject moved away from the address; no further reports",
    "Victim now supported by the SPOC and housing provider; risk reduced",
];

fn at(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or_default()
}

impl Supervisor {
    fn new(plan: &Plan, now: i64) -> Supervisor {
        let policies = Policies::defaults();
        Supervisor {
            rng: ChaCha8Rng::seed_from_u64(plan.opts.seed ^ 0x5afe_7e57_0000_0004),
            per_borough: policies.supervision.dip_sample.per_borough_per_week,
            checklist: policies.supervision.dip_sample.checklist.iter().map(|c| c.id.clone()).collect(),
            policy: policies.supervision,
            now,
            next_review: plan.review_base + 1,
            recent: Vec::new(),
        }
    }

    fn supervise(&mut self, row: &mut IncidentRow, borough: i64, police: bool, out: &mut Batch) {
        let t = row.received_at;
        let level: Option<RiskLevel> = row.risk_level.as_deref().and_then(|l| l.parse().ok());
        let victim = row.people.first().is_some_and(|p| p.1 == Role::Victim.as_str());

        // Updates to the victim: sooner for higher risk, not always.
        if victim && chance(&mut self.rng, 0.65) {
            let (lo, hi) = match level {
                Some(RiskLevel::High) => (1.0_f64, 30.0_f64),
                Some(RiskLevel::Medium) => (3.0, 80.0),
                _ => (8.0, 240.0),
            };
            let hours = (lo.ln() + self.rng.gen::<f64>() * (hi.ln() - lo.ln())).exp();
            let first = t + (hours * 3600.0) as i64;
            let channel = *pick(&mut self.rng, &["phone", "phone", "phone", "email", "visit", "text"]);
            if first < self.now {
                out.updates.push(UpdateRow {
                    incident_id: row.id,
                    received_at: t,
                    borough_id: Some(borough),
                    at: first,
                    channel,
                    note: None,
                });
                let second = first + self.rng.gen_range(3..=21) * DAY;
                if chance(&mut self.rng, 0.2) && second < self.now {
                    out.updates.push(UpdateRow {
                        incident_id: row.id,
                        received_at: t,
                        borough_id: Some(borough),
                        at: second,
                        channel: "phone",
                        note: None,
                    });
                }
            }
        }
        if !police {
            return;
        }
        if t >= self.now - DIP_WEEKS * 7 * DAY - 7 * DAY {
            self.recent.push((row.id, t, row.reference.clone(), borough));
        }
        // A repeat caller the handler's search missed now and then: flagged later, if at all.
        let missed = row.qualifiers.contains(&610) && chance(&mut self.rng, 0.06);
        if missed {
            row.qualifiers.retain(|q| *q != 610);
        }
        let Some(level) = level.filter(|l| self.policy.needs_review(*l)) else { return };

        let mut pending = self.policy.initial_schedule(level, at(t));
        let mut current = (row.category.clone(), row.type_code, level);
        let mut added = Vec::new();
        let mut changed = false;
        let open = row.status == "open";
        for n in 0..40 {
            let Some(due) = pending.iter().min_by_key(|d| d.due_at).cloned() else { break };
            let due_at = due.due_at.timestamp();
            let reviewed = if chance(&mut self.rng, 0.85) {
                (due_at - self.rng.gen_range(0..20 * 3600)).max(t + 1800)
            } else {
                due_at + self.rng.gen_range(600..72 * 3600)
            };
            if reviewed >= self.now || reviewed > t + REVIEWED_FOR {
                break;
            }
            let id = self.next_review;
            self.next_review += 1;
            let mut reason = None;
            let mut changes: Vec<(&'static str, String, String)> = Vec::new();
            if n == 0 && missed && chance(&mut self.rng, 0.5) {
                added.push(610);
                let list = |q: &[u16]| q.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",");
                let mut with = row.qualifiers.clone();
                with.push(610);
                with.sort_unstable();
                changes.push(("qualifiers", list(&row.qualifiers), list(&with)));
                reason = Some("Caller has reported before; repeat flag added on review".to_string());
            } else if n == 0 && chance(&mut self.rng, 0.06) {
                let (cat, code) = if current.0 == "personal" { ("nuisance", 202) } else { ("personal", 204) };
                changes.push(("category", current.0.clone(), cat.into()));
                if current.1 != code {
                    changes.push(("type_code", current.1.to_string(), code.to_string()));
                }
                current.0 = cat.into();
                current.1 = code;
                reason = Some(pick(&mut self.rng, &CHANGE_REASONS).to_string());
            } else if chance(&mut self.rng, 0.05) {
                let lower = if current.2 == RiskLevel::High { RiskLevel::Medium } else { RiskLevel::Standard };
                changes.push(("risk_level", current.2.as_str().into(), lower.as_str().into()));
                current.2 = lower;
                reason = Some(pick(&mut self.rng, &LOWER_REASONS).to_string());
            }
            changed |= !changes.is_empty();
            for (field, old, new) in changes.iter() {
                out.changes.push(ChangeRow {
                    incident_id: row.id,
                    field,
                    old_value: Some(old.clone()),
                    new_value: Some(new.clone()),
                    reason: reason.clone().unwrap_or_default(),
                    changed_at: reviewed,
                    review_id: id,
                });
            }
            out.reviews.push(ReviewRow {
                id,
                incident_id: row.id,
                received_at: t,
                borough_id: Some(borough),
                role: due.role.as_str(),
                kind: Some(due.kind.as_str()),
                reviewed_at: reviewed,
                due_at: Some(due_at),
                outcome: if changes.is_empty() { "confirmed" } else { "changed" },
                risk_level: Some(current.2.as_str().into()),
                reason,
            });
            pending = self.policy.after_review(&pending, due.role, at(reviewed), current.2);
            if !open {
                pending.clear();
                break;
            }
        }
        if changed {
            row.closing = Some(Closing {
                category: current.0.clone(),
                type_code: current.1,
                risk_level: Some(current.2.as_str().into()),
                added_qualifiers: added,
            });
        }
        if open {
            for d in pending.iter().filter(|d| d.due_at.timestamp() <= t + REVIEWED_FOR) {
                out.schedule.push(ScheduleRow {
                    incident_id: row.id,
                    received_at: t,
                    reference: row.reference.clone(),
                    borough_id: Some(borough),
                    role: d.role.as_str(),
                    kind: d.kind.as_str(),
                    due_at: d.due_at.timestamp(),
                });
            }
        }
    }

    /// The dip samples of the last complete weeks: most checked, a few failing an item.
    fn dip_samples(&mut self, out: &mut Batch) {
        use asb_domain::supervision::{draw, IsoWeek};
        let last = IsoWeek::last_complete(at(self.now));
        let mut week = last;
        for back in 0..DIP_WEEKS {
            let (start, end) = week.bounds();
            let (start, end) = (start.timestamp(), end.timestamp());
            let mut by_borough: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
            for r in self.recent.iter().filter(|r| r.1 >= start && r.1 < end) {
                by_borough.entry(r.3).or_default().push(r.0);
            }
            for (borough, ids) in by_borough {
                for (i, id) in draw(&ids, week, self.per_borough).into_iter().enumerate() {
                    let Some(r) = self.recent.iter().find(|r| r.0 == id) else { continue };
                    let checked = chance(&mut self.rng, if back == 0 { 0.4 } else { 0.9 });
                    let checked_at = (end + self.rng.gen_range(3600..5 * DAY)).min(self.now - 60);
                    let answers: Option<serde_json::Map<String, serde_json::Value>> = checked.then(|| {
                        let failing = chance(&mut self.rng, 0.18).then(|| self.rng.gen_range(0..self.checklist.len()));
                        self.checklist
                            .iter()
                            .enumerate()
                            .map(|(k, c)| (c.clone(), serde_json::Value::Bool(Some(k) != failing)))
                            .collect()
                    });
                    let passed = answers.as_ref().map(|a| a.values().all(|v| v == &serde_json::Value::Bool(true)));
                    out.dip_samples.push(DipRow {
                        borough_id: borough,
                        week: week.to_string(),
                        incident_id: id,
                        received_at: r.1,
                        reference: r.2.clone(),
                        sample_order: i as i32 + 1,
                        drawn_at: (end + 3600).min(self.now),
                        checked_at: checked.then_some(checked_at),
                        answers: answers.map(serde_json::Value::Object),
                        passed,
                    });
                }
            }
            week = week.previous();
        }
    }
}

struct IncidentGen {
    risk: RiskMemo,
    cal: Calendar,
    /// Last sequence used per year.
    sequences: BTreeMap<i32, u64>,
    /// The current year and the instant the next one starts.
    year: (i32, i64),
    categories: [usize; 3],
    risk_levels: [usize; 3],
}

#[cfg(test)]
mod tests {
    use super::*;
    use asb_domain::matching::{PhoneNumber, Postcode};
    use chrono::TimeZone;
    use sqlx::sqlite::SqlitePoolOptions;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 14, 12, 0, 0).single().unwrap_or_default()
    }

    fn opts(people: usize, incidents: usize, seed: u64) -> GenerateOptions {
        GenerateOptions { people, incidents, seed, now: now(), years: 2 }
    }

    async fn pool(dir: &std::path::Path) -> sqlx::SqlitePool {
        SqlitePoolOptions::new().connect(&format!("sqlite://{}", dir.join("asb.db").display())).await.expect("open db")
    }

    #[tokio::test]
    async fn same_seed_same_data() {
        let (a, b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
        let mut reports = vec![];
        let mut digests = vec![];
        for dir in [&a, &b] {
            let store = Store::open_dir(dir.path()).await.expect("open");
            let mut calls = 0;
            let report = generate(&store, &opts(3_000, 9_000, 7), &mut |_, _| calls += 1).await.expect("generate");
            assert_eq!(calls, 1, "one progress call per 20,000-incident batch");
            let counts = store.counts().await.expect("counts");
            store.close().await;
            let pool = pool(dir.path()).await;
            let rows: Vec<(String, i64, i64, String, i64, String)> = sqlx::query_as(
                "SELECT reference, received_at, place_id, category, type_code, narrative FROM incidents ORDER BY id",
            )
            .fetch_all(&pool)
            .await
            .expect("rows");
            let people: Vec<(Option<String>, Option<String>, Option<String>)> =
                sqlx::query_as("SELECT name, phone, date_of_birth FROM people ORDER BY id")
                    .fetch_all(&pool)
                    .await
                    .expect("people");
            digests.push((counts, rows, people));
            reports.push(GenerateReport { elapsed: Duration::ZERO, ..report });
        }
        assert_eq!(reports[0], reports[1]);
        assert_eq!(digests[0], digests[1]);
        let other = tempfile::tempdir().expect("tempdir");
        let store = Store::open_dir(other.path()).await.expect("open");
        let report = generate(&store, &opts(3_000, 9_000, 8), &mut |_, _| {}).await.expect("generate");
        assert_ne!(GenerateReport { elapsed: Duration::ZERO, ..report }, reports[0], "another seed, other data");
    }

    #[tokio::test]
    async fn repeat_callers_categories_and_risk_look_like_london() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_dir(dir.path()).await.expect("open");
        let mut seen = vec![];
        let r = generate(&store, &opts(20_000, 60_000, 42), &mut |done, total| seen.push((done, total)))
            .await
            .expect("generate");
        assert_eq!(seen, vec![(20_000, 60_000), (40_000, 60_000), (60_000, 60_000)]);
        assert_eq!((r.people, r.incidents), (20_000, 60_000));
        let (six, ten) = (ratio(r.callers_6_plus_a_year, r.callers), ratio(r.callers_over_10_a_year, r.callers));
        assert!((six - 0.25).abs() < 0.03, "6+ a year: {six:.3} of {} callers", r.callers);
        assert!((ten - 1.0 / 7.0).abs() < 0.025, "over 10 a year: {ten:.3}");
        for (got, want) in r.category_shares.iter().zip([0.115, 0.855, 0.03]) {
            assert!((got - want).abs() < 0.02, "category shares {:?}", r.category_shares);
        }
        let [standard, medium, high] = r.risk_shares;
        assert!(standard > 0.6 && medium > 0.08 && high > 0.01 && high < 0.08, "risk shares {:?}", r.risk_shares);
        let counts = store.counts().await.expect("counts");
        assert_eq!(
            (counts.people, counts.incidents, counts.contacts, counts.places as usize),
            (20_000, 60_000, 60_000, r.places)
        );
        store.close().await;

        let pool = pool(dir.path()).await;
        let months: Vec<(String, i64)> =
            sqlx::query_as("SELECT strftime('%m', received_at, 'unixepoch') m, COUNT(*) FROM incidents GROUP BY m")
                .fetch_all(&pool)
                .await
                .expect("months");
        assert_eq!(months.len(), 12, "every month has incidents");
        let (t_min, t_max): (i64, i64) = sqlx::query_as("SELECT MIN(received_at), MAX(received_at) FROM incidents")
            .fetch_one(&pool)
            .await
            .expect("range");
        assert!(t_min >= now().timestamp() - 2 * 365 * DAY && t_max < now().timestamp());
        let evening: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM incidents WHERE CAST(strftime('%H', received_at, 'unixepoch') AS INTEGER) BETWEEN 16 AND 22").fetch_one(&pool).await.expect("evening");
        assert!(evening > 60_000 * 35 / 100, "evenings are busiest: {evening}");
        let (postcodes, phones, refs): (Vec<String>, Vec<String>, Vec<String>) = (
            sqlx::query_scalar("SELECT DISTINCT postcode FROM places").fetch_all(&pool).await.expect("postcodes"),
            sqlx::query_scalar("SELECT phone FROM people WHERE phone IS NOT NULL")
                .fetch_all(&pool)
                .await
                .expect("phones"),
            sqlx::query_scalar("SELECT reference FROM incidents ORDER BY id LIMIT 2000")
                .fetch_all(&pool)
                .await
                .expect("refs"),
        );
        assert!(
            postcodes.iter().all(|p| Postcode::parse(p).map(|q| q.as_str() == p).unwrap_or(false)),
            "postcodes valid"
        );
        assert!(
            phones.iter().all(|p| PhoneNumber::parse(p).map(|q| q.as_e164() == p).unwrap_or(false)),
            "phones valid"
        );
        assert_eq!(phones.iter().collect::<HashSet<_>>().len(), phones.len(), "phones unique");
        assert!((phones.len() as f64 / 20_000.0 - 0.9).abs() < 0.03);
        assert!(refs.iter().all(|r| r.parse::<IncidentRef>().is_ok()));
        let unnamed: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM people WHERE name_norm IS NULL OR name_key IS NULL")
                .fetch_one(&pool)
                .await
                .expect("names");
        assert_eq!(unnamed, 0, "every generated name parses");
        let subjects: f64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(DISTINCT incident_id) AS REAL) / 60000 FROM incident_people WHERE role = 'subject'",
        )
        .fetch_one(&pool)
        .await
        .expect("subjects");
        assert!((subjects - 0.2).abs() < 0.04, "named subjects on {subjects:.3}");
        let force: f64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS REAL) / 60000 FROM incidents i JOIN organisations o ON o.id = i.organisation_id WHERE o.code = 'MPS'")
            .fetch_one(&pool)
            .await
            .expect("force");
        assert!((force - 0.88).abs() < 0.02);
    }

    #[tokio::test]
    async fn adds_to_an_existing_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_dir(dir.path()).await.expect("open");
        let first = generate(&store, &opts(500, 1_500, 1), &mut |_, _| {}).await.expect("first run");
        let second = generate(&store, &opts(500, 1_500, 2), &mut |_, _| {}).await.expect("second run");
        let counts = store.counts().await.expect("counts");
        assert_eq!(counts.incidents, 3_000);
        assert_eq!(counts.places as usize, first.places + second.places);
        store.close().await;
        let pool = pool(dir.path()).await;
        let next: Vec<(i64, i64)> = sqlx::query_as("SELECT year, next_value FROM reference_counters ORDER BY year")
            .fetch_all(&pool)
            .await
            .expect("counters");
        let max_seq: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT 2000 + CAST(substr(reference, 5, 2) AS INTEGER) y, MAX(CAST(substr(reference, 8, length(reference) - 8) AS INTEGER)) FROM incidents GROUP BY y ORDER BY y",
        )
        .fetch_all(&pool)
        .await
        .expect("max");
        assert_eq!(next.len(), max_seq.len());
        for ((y, n), (y2, m)) in next.iter().zip(&max_seq) {
            assert_eq!((y, *n), (y2, m + 1), "counter continues after the references");
        }
    }

    #[tokio::test]
    async fn tiny_and_odd_sizes() {
        for (people, incidents, years) in [(1, 10, 1), (7, 0, 2), (40, 500, 3), (0, 0, 2)] {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = Store::open_dir(dir.path()).await.expect("open");
            let o = GenerateOptions { people, incidents, seed: 5, now: now(), years };
            let r = generate(&store, &o, &mut |_, _| {}).await.expect("generate");
            assert_eq!((r.people, r.incidents), (people, incidents), "{people}/{incidents}/{years}");
            let counts = store.counts().await.expect("counts");
            assert_eq!((counts.people as usize, counts.incidents as usize), (people, incidents));
        }
        let store = Store::open_dir(tempfile::tempdir().expect("tempdir").path()).await.expect("open");
        assert!(generate(&store, &GenerateOptions { people: 0, incidents: 5, ..opts(0, 0, 1) }, &mut |_, _| {})
            .await
            .is_err());
        assert!(generate(&store, &GenerateOptions { years: 0, ..opts(10, 10, 1) }, &mut |_, _| {}).await.is_err());
    }

    #[test]
    fn allocation_is_exact_and_proportional() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let got = allocate(&mut rng, &[1.0, 2.0, 3.0, 0.0, 4.0], 1_000);
        assert_eq!(got, vec![100, 200, 300, 0, 400]);
        let got = allocate(&mut rng, &[0.3; 7], 5);
        assert_eq!(got.iter().sum::<usize>(), 5);
        assert!(got.iter().all(|k| *k <= 1));
    }

    #[test]
    fn phone_numbers_are_a_permutation() {
        let mut seen = HashSet::new();
        for id in 0..200_000u64 {
            let n = phone_index(id);
            assert!(n < PHONE_SPACE && seen.insert(n), "id {id}");
        }
    }

    #[test]
    fn bst_and_calendar() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default();
        assert!(
            !is_bst(d(2025, 3, 29)) && is_bst(d(2025, 3, 30)) && is_bst(d(2025, 10, 25)) && !is_bst(d(2025, 10, 26))
        );
        let now = now().timestamp();
        let cal = Calendar::new(now - 730 * DAY, now);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..10_000 {
            let t = cal.sample(&mut rng, 0, cal.days() - 1);
            assert!(t >= cal.t0 && t < now);
            let day = cal.day_of(t);
            assert!(cal.midnight[day] <= t && t - cal.midnight[day] < 25 * 3600);
        }
    }

    /// `cargo test --release -p asb --bin asb generate::tests::speed -- --ignored --nocapture`
    #[tokio::test]
    #[ignore]
    async fn speed() {
        let n: usize = std::env::var("ASB_GEN_INCIDENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_dir(dir.path()).await.expect("open");
        let r = generate(&store, &opts(n / 3, n, 1), &mut |_, _| {}).await.expect("generate");
        if let Ok(keep) = std::env::var("ASB_GEN_KEEP") {
            let _ = std::fs::copy(dir.path().join("asb.db"), keep);
        }
        println!(
            "{} incidents, {} people, {} places in {:.2?}: {:.0} incidents/s; 6+ {:.3}, >10 {:.3}, categories {:?}, risk {:?}",
            r.incidents,
            r.people,
            r.places,
            r.elapsed,
            r.incidents as f64 / r.elapsed.as_secs_f64(),
            ratio(r.callers_6_plus_a_year, r.callers),
            ratio(r.callers_over_10_a_year, r.callers),
            r.category_shares,
            r.risk_shares
        );
    }

    /// Generator alone, batches dropped: `cargo test --release -p asb --bin asb generate::profile -- --ignored --nocapture`
    #[tokio::test]
    #[ignore]
    async fn generator_only() {
        let n: usize = std::env::var("ASB_GEN_INCIDENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_dir(dir.path()).await.expect("open");
        store.seed_organisations().await.expect("seed");
        let codes: HashMap<String, i64> = store.organisation_ids().await.expect("ids").into_iter().collect();
        let plan = Plan {
            opts: GenerateOptions { people: n / 3, incidents: n, seed: 1, now: Utc::now(), years: 2 },
            orgs: OrgIds::resolve(&codes).expect("orgs"),
            place_base: 0,
            person_base: 0,
            incident_base: 0,
            review_base: 0,
            sequence_offset: 0,
        };
        let (tx, mut rx) = mpsc::channel::<Msg>(2);
        let started = Instant::now();
        let worker = tokio::task::spawn_blocking(move || Gen::new(plan).run(&tx));
        let mut first_incidents = None;
        while let Some(m) = rx.recv().await {
            if m.incidents > 0 && first_incidents.is_none() {
                first_incidents = Some(started.elapsed());
            }
        }
        let s = worker.await.expect("join").expect("run");
        println!(
            "generator only: {} incidents in {:.2?} (places+people done at {:.2?})",
            s.incidents,
            started.elapsed(),
            first_incidents
        );
    }
}
