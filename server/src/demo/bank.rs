//! The demo bank: three customers with a year of believable history, and an operator.
//!
//! [`generate`] is pure apart from the uuids it assigns: the same `now` gives the same people,
//! accounts, amounts and times (each customer draws from a PRNG with a fixed seed). Every customer
//! has a GBP current account (overdraft to -£500), a GBP savings account and a EUR account, all at
//! the demo sort code [`DEMO_SORT_CODE`]. Balances are running balances in booking order; booking
//! times are strictly increasing per account, and the two sides of a transfer share one instant.
//!
//! Demo passwords are fixed and documented (they are returned in [`DemoBank::credentials`]):
//! `alice-demo-2026`, `bob-demo-2026`, `carol-demo-2026`, `operator-demo-2026`.

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use time::{Date, Duration, Month, OffsetDateTime, Weekday};

use crate::clock::UnixTime;
use crate::store::{Account, BankSeed, Beneficiary, Role, Transaction, User};

/// The sort code of every demo account.
pub const DEMO_SORT_CODE: &str = "608371";
/// The bank identifier inside the demo bank's IBANs.
pub const DEMO_IBAN_BANK: &str = "CNSY";

pub const SCHEME_SORT_CODE: &str = "UK.OBIE.SortCodeAccountNumber";
pub const SCHEME_IBAN: &str = "UK.OBIE.IBAN";

/// The demo data, ready for `LedgerStore::seed_once`, and the logins to print.
#[derive(Debug, Clone)]
pub struct DemoBank {
    pub seed: BankSeed,
    pub credentials: Vec<DemoCredential>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoCredential {
    pub username: String,
    pub password: String,
    pub display_name: String,
    pub role: Role,
}

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;
const CURRENT: usize = 0;
const SAVINGS: usize = 1;
const EURO: usize = 2;
/// The arranged overdraft of every current account.
const OVERDRAFT_MINOR: i64 = 50_000;

/// A payment collected monthly (direct debit, standing order, recurring card payment).
struct Bill {
    payee: &'static str,
    reference: &'static str,
    amount: i64,
    day: u8,
    code: &'static str,
}

const fn bill(
    payee: &'static str,
    reference: &'static str,
    amount: i64,
    day: u8,
    code: &'static str,
) -> Bill {
    Bill {
        payee,
        reference,
        amount,
        day,
        code,
    }
}

enum Income {
    /// Net monthly pay, on `day` (or the Friday before when it falls on a weekend).
    Salary {
        employer: &'static str,
        amount: i64,
        day: u8,
    },
    /// Invoices paid at random on working days; `tax_pot_percent` of each goes to savings.
    Freelance {
        clients: &'static [&'static str],
        min: i64,
        max: i64,
        tax_pot_percent: i64,
    },
}

struct Trip {
    /// Days after the start of the year of history.
    starts_after: i64,
    days: i64,
    city: &'static str,
    budget_gbp: i64,
    merchants: &'static [(&'static str, i64, i64)],
}

struct Payee {
    name: &'static str,
    sort_code: &'static str,
    account: &'static str,
    reference: &'static str,
    /// A monthly standing order to this payee: amount and day.
    monthly: Option<(i64, u8)>,
}

struct Habits {
    area: &'static str,
    commute: (&'static str, i64, i64, f64),
    coffee: (&'static [&'static str], f64),
    lunch: (&'static [&'static str], f64),
    grocers: &'static [&'static str],
    big_shop_day: Weekday,
    going_out: (&'static [&'static str], f64),
    takeaway: f64,
    online: f64,
}

struct Profile {
    username: &'static str,
    password: &'static str,
    display_name: &'static str,
    email: &'static str,
    phone: &'static str,
    rng_seed: u64,
    customer_since_days: i64,
    accounts: [&'static str; 3],
    savings_nickname: &'static str,
    opening: [i64; 3],
    savings_rate_bps: i64,
    monthly_saving: i64,
    income: Income,
    housing: Bill,
    council_tax: Bill,
    bills: &'static [Bill],
    taxes: Option<(&'static str, i64)>,
    payees: &'static [Payee],
    habits: Habits,
    trips: &'static [Trip],
}

const PORTUGAL: &[(&str, i64, i64)] = &[
    ("Pastelaria Alfama", 250, 1_150),
    ("Time Out Market", 1_400, 4_800),
    ("Pingo Doce", 800, 3_600),
    ("Metro de Lisboa", 180, 1_000),
    ("Taberna da Rua das Flores", 2_800, 7_900),
    ("Museu Nacional do Azulejo", 500, 1_000),
];
const SPAIN: &[(&str, i64, i64)] = &[
    ("Cafe del Born", 260, 1_200),
    ("Mercat de la Boqueria", 900, 3_800),
    ("Mercadona", 700, 3_200),
    ("TMB Metro", 240, 1_140),
    ("Bar Canete", 3_400, 8_600),
    ("Sagrada Familia", 2_600, 3_600),
];
const FRANCE: &[(&str, i64, i64)] = &[
    ("Boulangerie Poilane", 300, 1_400),
    ("Monoprix", 900, 4_200),
    ("RATP", 215, 1_690),
    ("Le Petit Cler", 3_100, 8_200),
    ("Musee d'Orsay", 1_600, 1_600),
];
const NETHERLANDS: &[(&str, i64, i64)] = &[
    ("Albert Heijn", 600, 3_400),
    ("GVB Amsterdam", 340, 900),
    ("Cafe de Jaren", 450, 2_900),
    ("Rijksmuseum", 2_250, 2_250),
    ("Foodhallen", 1_500, 4_600),
];
const GERMANY: &[(&str, i64, i64)] = &[
    ("Rewe", 600, 3_100),
    ("BVG Berlin", 380, 990),
    ("The Barn Coffee", 350, 1_100),
    ("Markthalle Neun", 1_200, 4_200),
    ("Pergamonmuseum", 1_200, 1_900),
];
const ITALY: &[(&str, i64, i64)] = &[
    ("Antico Caffe Greco", 300, 1_400),
    ("Conad", 600, 3_000),
    ("ATAC Roma", 150, 700),
    ("Trattoria Da Enzo", 3_200, 8_400),
    ("Musei Vaticani", 2_000, 2_000),
    ("Gelateria del Teatro", 350, 900),
];

/// Online shops: name and price range in pence.
const ONLINE: &[(&str, i64, i64)] = &[
    ("Amazon.co.uk", 799, 6_499),
    ("ASOS", 1_800, 8_900),
    ("John Lewis", 2_500, 14_900),
    ("Waterstones", 899, 2_499),
    ("Argos", 1_200, 6_000),
    ("Boots.com", 450, 3_200),
];
const TAKEAWAY: &[(&str, i64, i64)] = &[("Deliveroo", 1_650, 4_200), ("Just Eat", 1_450, 3_600)];

const PROFILES: [Profile; 3] = [
    Profile {
        username: "alice",
        password: "alice-demo-2026",
        display_name: "Alice Pemberton",
        email: "alice.pemberton@example.com",
        phone: "+447700900461",
        rng_seed: 0x0A11_CE00_2026,
        customer_since_days: 9 * 365 + 143,
        accounts: ["31926819", "31926827", "31926835"],
        savings_nickname: "Rainy day",
        opening: [124_018, 685_000, 8_540],
        savings_rate_bps: 410,
        monthly_saving: 40_000,
        income: Income::Salary {
            employer: "Northwind Media Ltd",
            amount: 314_250,
            day: 25,
        },
        housing: bill(
            "Harbour Lettings Ltd",
            "FLAT 4 42 ALMA RD",
            135_000,
            1,
            "SO",
        ),
        council_tax: bill(
            "London Borough of Islington",
            "CTAX 40311872",
            15_200,
            1,
            "DD",
        ),
        bills: &[
            bill("Octopus Energy", "A-4C1D07E2", 9_600, 8, "DD"),
            bill("Thames Water", "900417723", 4_120, 12, "DD"),
            bill("EE Limited", "B0972231", 2_800, 14, "DD"),
            bill("Hyperoptic", "HYP-228931", 3_000, 20, "DD"),
            bill("TV Licensing", "TVL 7711402", 1_425, 1, "DD"),
            bill("PureGym", "PG-ISL-55312", 2_499, 5, "DD"),
            bill("Netflix.com", "NETFLIX.COM", 1_099, 9, "CARD"),
            bill("Spotify", "SPOTIFY P2A3C9", 1_199, 17, "CARD"),
        ],
        taxes: None,
        payees: &[
            Payee {
                name: "Margaret Pemberton",
                sort_code: "404711",
                account: "61220984",
                reference: "LOVE FROM ALICE",
                monthly: Some((5_000, 10)),
            },
            Payee {
                name: "Bob Singh",
                sort_code: DEMO_SORT_CODE,
                account: "40553187",
                reference: "DINNER",
                monthly: None,
            },
            Payee {
                name: "Fitzroy Climbing Club",
                sort_code: "309634",
                account: "02918845",
                reference: "MEMBERSHIP PEMBERTON",
                monthly: None,
            },
        ],
        habits: Habits {
            area: "Islington",
            commute: ("TfL Travel Charge", 280, 880, 0.8),
            coffee: (
                &[
                    "Pret A Manger",
                    "Caffe Nero",
                    "Gail's Bakery",
                    "Monmouth Coffee",
                ],
                0.75,
            ),
            lunch: (&["Leon", "Itsu", "Pret A Manger", "Wasabi"], 0.45),
            grocers: &["Sainsbury's", "Waitrose & Partners", "M&S Simply Food"],
            big_shop_day: Weekday::Saturday,
            going_out: (
                &[
                    "The Lexington",
                    "Dishoom King's Cross",
                    "Everyman Cinema",
                    "The Charles Lamb",
                ],
                0.55,
            ),
            takeaway: 0.15,
            online: 0.12,
        },
        trips: &[
            Trip {
                starts_after: 132,
                days: 5,
                city: "Lisboa",
                budget_gbp: 45_000,
                merchants: PORTUGAL,
            },
            Trip {
                starts_after: 268,
                days: 4,
                city: "Barcelona",
                budget_gbp: 38_000,
                merchants: SPAIN,
            },
        ],
    },
    Profile {
        username: "bob",
        password: "bob-demo-2026",
        display_name: "Bob Singh",
        email: "bob.singh@example.com",
        phone: "+447700900218",
        rng_seed: 0xB0B0_0000_2026,
        customer_since_days: 6 * 365 + 40,
        accounts: ["40553187", "40553195", "40553209"],
        savings_nickname: "House fund",
        opening: [61_244, 312_000, 4_000],
        savings_rate_bps: 360,
        monthly_saving: 20_000,
        income: Income::Salary {
            employer: "Manchester University NHS FT",
            amount: 248_673,
            day: 27,
        },
        housing: bill("Nationwide BS", "MORTGAGE 0047718263", 86_240, 3, "DD"),
        council_tax: bill("Manchester City Council", "CT 6612093", 12_800, 1, "DD"),
        bills: &[
            bill("British Gas", "850033129", 8_800, 11, "DD"),
            bill("United Utilities", "UU 3320918", 3_650, 15, "DD"),
            bill("Vodafone", "7700900218", 2_200, 19, "DD"),
            bill("Virgin Media", "VM 44189021", 4_700, 23, "DD"),
            bill("TV Licensing", "TVL 2209317", 1_425, 1, "DD"),
            bill("Aviva", "HOME 88213374", 1_860, 7, "DD"),
            bill("Amazon Prime", "AMZN PRIME UK", 899, 6, "CARD"),
            bill("Disney Plus", "DISNEYPLUS", 799, 21, "CARD"),
        ],
        taxes: None,
        payees: &[
            Payee {
                name: "Priya Singh",
                sort_code: "601613",
                account: "88231045",
                reference: "PHONE BILL",
                monthly: Some((3_000, 5)),
            },
            Payee {
                name: "Didsbury Five-a-side",
                sort_code: "404126",
                account: "73310592",
                reference: "SUBS SINGH",
                monthly: None,
            },
            Payee {
                name: "Carol MacLeod",
                sort_code: DEMO_SORT_CODE,
                account: "52870411",
                reference: "GIFT",
                monthly: None,
            },
            Payee {
                name: "Alice Pemberton",
                sort_code: DEMO_SORT_CODE,
                account: "31926819",
                reference: "TICKETS",
                monthly: None,
            },
        ],
        habits: Habits {
            area: "Didsbury",
            commute: ("Bee Network", 200, 620, 0.6),
            coffee: (&["Costa Coffee", "Greggs", "Starbucks"], 0.6),
            lunch: (&["Greggs", "Tesco Express", "Subway"], 0.35),
            grocers: &["Tesco", "Aldi", "Lidl GB"],
            big_shop_day: Weekday::Sunday,
            going_out: (
                &["The Nelson", "Dough Pizza", "Cineworld", "Albert Hall"],
                0.4,
            ),
            takeaway: 0.18,
            online: 0.08,
        },
        trips: &[
            Trip {
                starts_after: 200,
                days: 3,
                city: "Paris",
                budget_gbp: 30_000,
                merchants: FRANCE,
            },
            Trip {
                starts_after: 320,
                days: 4,
                city: "Amsterdam",
                budget_gbp: 42_000,
                merchants: NETHERLANDS,
            },
        ],
    },
    Profile {
        username: "carol",
        password: "carol-demo-2026",
        display_name: "Carol MacLeod",
        email: "carol.macleod@example.com",
        phone: "+447700900735",
        rng_seed: 0xCA20_1000_2026,
        customer_since_days: 4 * 365 + 201,
        accounts: ["52870411", "52870438", "52870446"],
        savings_nickname: "Tax pot",
        opening: [248_000, 940_000, 21_000],
        savings_rate_bps: 425,
        monthly_saving: 0,
        income: Income::Freelance {
            clients: &[
                "Brightloop Studio Ltd",
                "Harper & Finch LLP",
                "Kelpie Games Ltd",
            ],
            min: 75_000,
            max: 190_000,
            tax_pot_percent: 25,
        },
        housing: bill(
            "Lothian Property Management",
            "RENT 14/2 WARRENDER PK",
            105_000,
            28,
            "SO",
        ),
        council_tax: bill("City of Edinburgh Council", "CT 30018826", 16_800, 1, "DD"),
        bills: &[
            bill("Octopus Energy", "A-77E2B019", 7_900, 9, "DD"),
            bill("Three", "447700900735", 1_600, 16, "DD"),
            bill("BT Group", "BT GM77310294", 3_800, 22, "DD"),
            bill("TV Licensing", "TVL 5532180", 1_425, 1, "DD"),
            bill("Adobe", "ADOBE CREATIVE CLD", 1_997, 12, "CARD"),
            bill("Spotify", "SPOTIFY P9K2L1", 1_199, 3, "CARD"),
        ],
        taxes: Some(("HMRC Self Assessment", 215_000)),
        payees: &[
            Payee {
                name: "Eilidh MacLeod",
                sort_code: "832022",
                account: "10483921",
                reference: "BIRTHDAY",
                monthly: None,
            },
            Payee {
                name: "Alice Pemberton",
                sort_code: DEMO_SORT_CODE,
                account: "31926819",
                reference: "CABIN SHARE",
                monthly: None,
            },
        ],
        habits: Habits {
            area: "Edinburgh",
            commute: ("Lothian Buses", 200, 460, 0.25),
            coffee: (
                &[
                    "Lowdown Coffee",
                    "Artisan Roast",
                    "Brew Lab",
                    "Costa Coffee",
                ],
                0.8,
            ),
            lunch: (
                &["Mary's Milk Bar", "Union of Genius", "Tesco Express"],
                0.3,
            ),
            grocers: &["Scotmid Co-op", "Lidl GB", "Waitrose & Partners"],
            big_shop_day: Weekday::Wednesday,
            going_out: (
                &[
                    "The Bow Bar",
                    "Dishoom Edinburgh",
                    "Cameo Cinema",
                    "Timberyard",
                ],
                0.5,
            ),
            takeaway: 0.2,
            online: 0.15,
        },
        trips: &[
            Trip {
                starts_after: 60,
                days: 4,
                city: "Berlin",
                budget_gbp: 35_000,
                merchants: GERMANY,
            },
            Trip {
                starts_after: 230,
                days: 6,
                city: "Roma",
                budget_gbp: 60_000,
                merchants: ITALY,
            },
        ],
    },
];

/// The demo bank as of `now`: a year of history up to `now`, nothing after it. `hash_password`
/// turns each demo password into its stored form.
pub fn generate(now: UnixTime, hash_password: &dyn Fn(&str) -> String) -> DemoBank {
    let mut seed = BankSeed::default();
    let mut credentials = Vec::new();
    for profile in &PROFILES {
        let customer = Customer::generate(profile, now);
        seed.users.push(User {
            id: customer.user_id.clone(),
            username: profile.username.to_owned(),
            display_name: profile.display_name.to_owned(),
            email: Some(profile.email.to_owned()),
            phone: Some(profile.phone.to_owned()),
            role: Role::Customer,
            password_hash: hash_password(profile.password),
            disabled_at: None,
            created_at: customer.accounts[CURRENT].opened_at,
        });
        credentials.push(DemoCredential {
            username: profile.username.to_owned(),
            password: profile.password.to_owned(),
            display_name: profile.display_name.to_owned(),
            role: Role::Customer,
        });
        seed.accounts.extend(customer.accounts);
        seed.transactions.extend(customer.transactions);
        seed.beneficiaries.extend(customer.beneficiaries);
    }
    let (username, password, display_name) =
        ("operator", "operator-demo-2026", "Demo Bank Operator");
    seed.users.push(User {
        id: new_id(),
        username: username.to_owned(),
        display_name: display_name.to_owned(),
        email: Some("operator@example.com".to_owned()),
        phone: None,
        role: Role::Operator,
        password_hash: hash_password(password),
        disabled_at: None,
        created_at: now - 400 * DAY,
    });
    credentials.push(DemoCredential {
        username: username.to_owned(),
        password: password.to_owned(),
        display_name: display_name.to_owned(),
        role: Role::Operator,
    });
    DemoBank { seed, credentials }
}

/// A GB IBAN for a sort code and account number at `bank`, with its mod-97 check digits.
pub fn gb_iban(bank: &str, sort_code: &str, account_number: &str) -> String {
    let bban = format!("{bank}{sort_code}{account_number}");
    let check = 98 - mod97(&format!("{bban}GB00"));
    format!("GB{check:02}{bban}")
}

/// Whether `iban` (no spaces) has valid ISO 13616 check digits.
pub fn iban_is_valid(iban: &str) -> bool {
    iban.len() >= 5
        && iban
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        && mod97(&format!("{}{}", &iban[4..], &iban[..4])) == 1
}

/// The value mod 97 of an IBAN-style string, letters counting as 10 to 35.
fn mod97(s: &str) -> u32 {
    s.chars().fold(0, |rem, c| match c.to_digit(36) {
        Some(v) if v >= 10 => (rem * 100 + v) % 97,
        Some(v) => (rem * 10 + v) % 97,
        None => rem,
    })
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// One customer's accounts and history, built in booking order.
struct Customer {
    user_id: String,
    accounts: Vec<Account>,
    transactions: Vec<Transaction>,
    beneficiaries: Vec<Beneficiary>,
}

struct Ledger {
    now: UnixTime,
    start: UnixTime,
    ids: [String; 3],
    currencies: [&'static str; 3],
    floors: [i64; 3],
    balances: [i64; 3],
    last: [UnixTime; 3],
    transactions: Vec<Transaction>,
}

impl Ledger {
    fn push(
        &mut self,
        account: usize,
        at: UnixTime,
        amount: i64,
        description: String,
        counterparty: Option<&str>,
        code: &str,
    ) {
        self.balances[account] += amount;
        self.last[account] = at;
        self.transactions.push(Transaction {
            id: new_id(),
            account_id: self.ids[account].clone(),
            amount_minor: amount,
            currency: self.currencies[account].to_owned(),
            status: "Booked".to_owned(),
            booked_at: at,
            value_at: at,
            description,
            counterparty: counterparty.map(str::to_owned),
            bank_code: code.to_owned(),
            balance_after_minor: self.balances[account],
        });
    }

    /// The instant to book at, or `None` if `at` is outside the year of history.
    fn slot(&self, at: UnixTime, accounts: &[usize]) -> Option<UnixTime> {
        if at <= self.start {
            return None;
        }
        let at = accounts.iter().fold(at, |t, &a| t.max(self.last[a] + 1));
        (at <= self.now).then_some(at)
    }

    /// Books one entry unless it would take the account below its floor.
    fn post(
        &mut self,
        account: usize,
        at: UnixTime,
        amount: i64,
        description: String,
        counterparty: Option<&str>,
        code: &str,
    ) -> bool {
        let Some(at) = self.slot(at, &[account]) else {
            return false;
        };
        if amount < 0 && self.balances[account] + amount < self.floors[account] {
            return false;
        }
        self.push(account, at, amount, description, counterparty, code);
        true
    }

    /// Moves money between two accounts of the customer, both sides at the same instant.
    #[expect(
        clippy::too_many_arguments,
        reason = "both sides of a transfer are described here"
    )]
    fn transfer(
        &mut self,
        from: usize,
        to: usize,
        at: UnixTime,
        debit: i64,
        credit: i64,
        out: String,
        into: String,
        holder: &str,
    ) -> bool {
        let Some(at) = self.slot(at, &[from, to]) else {
            return false;
        };
        if debit <= 0 || self.balances[from] - debit < self.floors[from] {
            return false;
        }
        self.push(from, at, -debit, out, Some(holder), "TFR");
        self.push(to, at, credit, into, Some(holder), "TFR");
        true
    }
}

struct Day {
    start: UnixTime,
    date: Date,
    index: i64,
}

impl Day {
    fn weekday(&self) -> Weekday {
        self.date.weekday()
    }

    fn working(&self) -> bool {
        !matches!(self.weekday(), Weekday::Saturday | Weekday::Sunday)
    }

    /// A monthly collection due on `dom`, moved to the next working day if that is a weekend.
    fn collects(&self, dom: u8) -> bool {
        self.working()
            && (self.date.day() == dom
                || (self.weekday() == Weekday::Monday
                    && [1, 2]
                        .iter()
                        .any(|&back| (self.date - Duration::days(back)).day() == dom)))
    }

    /// Pay day on `dom`, brought forward to the Friday if that is a weekend.
    fn pays(&self, dom: u8) -> bool {
        self.working()
            && (self.date.day() == dom
                || (self.weekday() == Weekday::Friday
                    && [1, 2]
                        .iter()
                        .any(|&ahead| (self.date + Duration::days(ahead)).day() == dom)))
    }

    /// A random instant between `from_hour` and `to_hour` of this day.
    fn at(&self, rng: &mut StdRng, from_hour: i64, to_hour: i64) -> UnixTime {
        self.start + rng.random_range(from_hour * HOUR..to_hour * HOUR)
    }
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// A price in pence between `min` and `max`, rounded to 5p like most shelf prices.
fn price(rng: &mut StdRng, min: i64, max: i64) -> i64 {
    (rng.random_range(min..=max) / 5 * 5).max(5)
}

impl Customer {
    fn generate(p: &'static Profile, now: UnixTime) -> Customer {
        let mut rng = StdRng::seed_from_u64(p.rng_seed);
        let start = now - 365 * DAY;
        let user_id = new_id();
        let holder = p.display_name;
        let opened = [
            start - p.customer_since_days * DAY,
            start - (p.customer_since_days / 2) * DAY,
            start - (2 * 365 + 30) * DAY,
        ];
        let accounts: Vec<Account> = [
            (
                "CurrentAccount",
                "GBP",
                "Everyday",
                SCHEME_SORT_CODE,
                format!("{DEMO_SORT_CODE}{}", p.accounts[0]),
            ),
            (
                "Savings",
                "GBP",
                p.savings_nickname,
                SCHEME_SORT_CODE,
                format!("{DEMO_SORT_CODE}{}", p.accounts[1]),
            ),
            (
                "CurrentAccount",
                "EUR",
                "Euro travel",
                SCHEME_IBAN,
                gb_iban(DEMO_IBAN_BANK, DEMO_SORT_CODE, p.accounts[2]),
            ),
        ]
        .into_iter()
        .zip(opened)
        .map(
            |((subtype, currency, nickname, scheme, identification), opened_at)| Account {
                id: new_id(),
                owner_user_id: user_id.clone(),
                account_type: "Personal".to_owned(),
                account_subtype: subtype.to_owned(),
                currency: currency.to_owned(),
                nickname: nickname.to_owned(),
                scheme_name: scheme.to_owned(),
                identification,
                holder_name: holder.to_owned(),
                balance_minor: 0,
                opened_at,
            },
        )
        .collect();

        let mut ledger = Ledger {
            now,
            start,
            ids: [
                accounts[0].id.clone(),
                accounts[1].id.clone(),
                accounts[2].id.clone(),
            ],
            currencies: ["GBP", "GBP", "EUR"],
            floors: [-OVERDRAFT_MINOR, 0, 0],
            balances: [0; 3],
            last: [start - 1; 3],
            transactions: Vec::new(),
        };
        for (account, amount) in p.opening.into_iter().enumerate() {
            ledger.push(
                account,
                start,
                amount,
                "Balance brought forward".to_owned(),
                None,
                "BBF",
            );
        }

        let beneficiaries = p
            .payees
            .iter()
            .map(|payee| Beneficiary {
                id: new_id(),
                account_id: accounts[CURRENT].id.clone(),
                reference: payee.reference.to_owned(),
                name: payee.name.to_owned(),
                scheme_name: SCHEME_SORT_CODE.to_owned(),
                identification: format!("{}{}", payee.sort_code, payee.account),
                created_at: start - rng.random_range(30..900) * DAY,
            })
            .collect();

        let mut history = History {
            p,
            rng,
            ledger,
            refundable: Vec::new(),
        };
        let first_day = start.div_euclid(DAY);
        for day_number in first_day..=now.div_euclid(DAY) {
            let day_start = day_number * DAY;
            let Ok(date) = OffsetDateTime::from_unix_timestamp(day_start).map(OffsetDateTime::date)
            else {
                continue;
            };
            history.day(&Day {
                start: day_start,
                date,
                index: day_number - first_day,
            });
        }

        let mut accounts = accounts;
        for (account, balance) in accounts.iter_mut().zip(history.ledger.balances) {
            account.balance_minor = balance;
        }
        Customer {
            user_id,
            accounts,
            transactions: history.ledger.transactions,
            beneficiaries,
        }
    }
}

struct History {
    p: &'static Profile,
    rng: StdRng,
    ledger: Ledger,
    /// Online purchases that may come back as refunds: shop, amount, when.
    refundable: Vec<(&'static str, i64, UnixTime)>,
}

impl History {
    /// One day, generated in time order so skipped debits never leave a later balance wrong.
    fn day(&mut self, d: &Day) {
        let p = self.p;
        let trip = p
            .trips
            .iter()
            .find(|t| (t.starts_after..t.starts_after + t.days).contains(&d.index));

        if d.date.day() == 1 {
            let interest = self.ledger.balances[SAVINGS] * p.savings_rate_bps / 10_000 / 12;
            if interest > 0 {
                let at = d.start + self.rng.random_range(60..1_800);
                self.ledger.post(
                    SAVINGS,
                    at,
                    interest,
                    "Interest paid".to_owned(),
                    None,
                    "INT",
                );
            }
        }
        self.income(d);
        self.bills(d);
        self.savings_moves(d);
        match trip {
            Some(trip) => self.abroad(d, trip),
            None => self.at_home(d),
        }
        self.payees(d);
        // Keeps the current account out of its overdraft where savings allow.
        if self.ledger.balances[CURRENT] < 5_000 && self.ledger.balances[SAVINGS] >= 20_000 {
            let amount = self.ledger.balances[SAVINGS].min(30_000);
            let at = d.start + 23 * HOUR + 1_800 + self.rng.random_range(0..1_800);
            self.ledger.transfer(
                SAVINGS,
                CURRENT,
                at,
                amount,
                amount,
                "Transfer to Everyday".to_owned(),
                format!("Transfer from {}", p.savings_nickname),
                p.display_name,
            );
        }
    }

    fn income(&mut self, d: &Day) {
        let p = self.p;
        match &p.income {
            Income::Salary {
                employer,
                amount,
                day,
            } => {
                if d.pays(*day) {
                    let at = d.start + self.rng.random_range(1_800..3_600);
                    self.ledger.post(
                        CURRENT,
                        at,
                        *amount,
                        format!("{employer} SALARY"),
                        Some(employer),
                        "SAL",
                    );
                }
            }
            Income::Freelance {
                clients,
                min,
                max,
                tax_pot_percent,
            } => {
                if d.working() && self.rng.random_bool(0.12) {
                    let client = *pick(&mut self.rng, clients);
                    let amount = self.rng.random_range(*min..=*max) / 100 * 100;
                    let at = d.start + self.rng.random_range(1_800..3_600);
                    let invoice = self.rng.random_range(1_000..9_999);
                    self.ledger.post(
                        CURRENT,
                        at,
                        amount,
                        format!("{client} INV-{invoice}"),
                        Some(client),
                        "PMT",
                    );
                    // Set aside for tax straight away, by a rule on the account.
                    let set_aside = amount * tax_pot_percent / 100;
                    let at = at + 60;
                    self.ledger.transfer(
                        CURRENT,
                        SAVINGS,
                        at,
                        set_aside,
                        set_aside,
                        format!("Transfer to {}", p.savings_nickname),
                        "Transfer from Everyday".to_owned(),
                        p.display_name,
                    );
                }
            }
        }
    }

    fn bills(&mut self, d: &Day) {
        let p = self.p;
        let council_tax_month = !matches!(d.date.month(), Month::February | Month::March);
        let due = std::iter::once(&p.housing)
            .chain(council_tax_month.then_some(&p.council_tax))
            .chain(p.bills.iter())
            .filter(|b| d.collects(b.day));
        for (i, b) in due.enumerate() {
            let at = d.start + 3 * HOUR + 10 * 60 * i as i64 + self.rng.random_range(0..600);
            self.pay(
                at,
                b.amount,
                format!("{} {}", b.payee, b.reference),
                b.payee,
                b.code,
            );
        }
        if let Some((authority, amount)) = p.taxes
            && matches!(d.date.month(), Month::January | Month::July)
            && d.collects(28)
        {
            let at = d.start + 5 * HOUR + self.rng.random_range(0..1_800);
            self.ledger.transfer(
                SAVINGS,
                CURRENT,
                at,
                amount.min(self.ledger.balances[SAVINGS]),
                amount.min(self.ledger.balances[SAVINGS]),
                "Transfer to Everyday".to_owned(),
                format!("Transfer from {}", p.savings_nickname),
                p.display_name,
            );
            self.pay(
                at + 60,
                amount,
                format!("{authority} UTR 4417720913K"),
                authority,
                "PMT",
            );
        }
    }

    /// A payment that must go out: tops the current account up from savings first if needed.
    fn pay(&mut self, at: UnixTime, amount: i64, description: String, payee: &str, code: &str) {
        let shortfall = amount - self.ledger.balances[CURRENT];
        if shortfall > 0 {
            let top_up = ((shortfall + 10_000) / 5_000 * 5_000).min(self.ledger.balances[SAVINGS]);
            self.ledger.transfer(
                SAVINGS,
                CURRENT,
                at - 1,
                top_up,
                top_up,
                "Transfer to Everyday".to_owned(),
                format!("Transfer from {}", self.p.savings_nickname),
                self.p.display_name,
            );
        }
        self.ledger
            .post(CURRENT, at, -amount, description, Some(payee), code);
    }

    /// The monthly saving after pay day, and the GBP to EUR top-up before a trip.
    fn savings_moves(&mut self, d: &Day) {
        let p = self.p;
        if let Income::Salary { day, .. } = p.income
            && p.monthly_saving > 0
            && d.collects(day.saturating_add(1))
            && self.ledger.balances[CURRENT] > p.monthly_saving + 60_000
        {
            let at = d.at(&mut self.rng, 6, 7);
            self.ledger.transfer(
                CURRENT,
                SAVINGS,
                at,
                p.monthly_saving,
                p.monthly_saving,
                format!("Transfer to {}", p.savings_nickname),
                "Transfer from Everyday".to_owned(),
                p.display_name,
            );
        }
        if let Some(trip) = p.trips.iter().find(|t| t.starts_after - 3 == d.index) {
            // Sterling to euro at a rate between 1.1400 and 1.1900.
            let rate = self.rng.random_range(11_400..=11_900);
            let euros = trip.budget_gbp * rate / 10_000;
            let at = d.at(&mut self.rng, 6, 7);
            self.ledger.transfer(
                CURRENT,
                EURO,
                at,
                trip.budget_gbp,
                euros,
                format!("Exchange to EUR at {}.{:04}", rate / 10_000, rate % 10_000),
                format!(
                    "Exchange from GBP at {}.{:04}",
                    rate / 10_000,
                    rate % 10_000
                ),
                p.display_name,
            );
        }
    }

    fn abroad(&mut self, d: &Day, trip: &Trip) {
        let count = self.rng.random_range(3..=6);
        // Card payments, and cash on the first day; `None` marks the withdrawal.
        let mut spends: Vec<(UnixTime, Option<(&str, i64)>)> = (0..count)
            .map(|_| {
                let (merchant, min, max) = *pick(&mut self.rng, trip.merchants);
                (
                    d.at(&mut self.rng, 8, 23),
                    Some((merchant, price(&mut self.rng, min, max))),
                )
            })
            .collect();
        if d.index == trip.starts_after {
            spends.push((d.at(&mut self.rng, 10, 12), None));
        }
        spends.sort_by_key(|&(at, _)| at);
        for (at, spend) in spends {
            match spend {
                Some((merchant, amount)) => {
                    let description = format!("{merchant}, {}", trip.city);
                    self.ledger
                        .post(EURO, at, -amount, description, Some(merchant), "CARD")
                }
                None => self.ledger.post(
                    EURO,
                    at,
                    -6_000,
                    format!("Cash withdrawal, {}", trip.city),
                    None,
                    "ATM",
                ),
            };
        }
    }

    fn at_home(&mut self, d: &Day) {
        let h = &self.p.habits;
        let weekend = !d.working();
        let rng = &mut self.rng;

        if !weekend && rng.random_bool(h.coffee.1) {
            let shop = *pick(rng, h.coffee.0);
            let (at, amount) = (d.at(rng, 8, 10), price(rng, 240, 540));
            self.ledger.post(
                CURRENT,
                at,
                -amount,
                format!("{shop}, {}", h.area),
                Some(shop),
                "CARD",
            );
        }
        if weekend && rng.random_bool(0.5) {
            let (at, shop) = (d.at(rng, 10, 11), pick(rng, h.grocers));
            let amount = if d.weekday() == h.big_shop_day {
                price(rng, 5_500, 12_000)
            } else {
                price(rng, 900, 3_200)
            };
            self.ledger.post(
                CURRENT,
                at,
                -amount,
                format!("{shop}, {}", h.area),
                Some(shop),
                "CARD",
            );
        }
        // Now and then something goes back.
        if rng.random_bool(0.035)
            && let Some(i) = self
                .refundable
                .iter()
                .position(|&(_, _, at)| at < d.start - 3 * DAY)
        {
            let (shop, amount, _) = self.refundable.swap_remove(i);
            let at = d.at(rng, 11, 12);
            self.ledger.post(
                CURRENT,
                at,
                amount,
                format!("Refund: {shop}"),
                Some(shop),
                "CARD",
            );
        }
        if !weekend && rng.random_bool(h.lunch.1) {
            let shop = *pick(rng, h.lunch.0);
            let (at, amount) = (d.at(rng, 12, 14), price(rng, 450, 1_150));
            self.ledger.post(
                CURRENT,
                at,
                -amount,
                format!("{shop}, {}", h.area),
                Some(shop),
                "CARD",
            );
        }
        if rng.random_bool(if weekend { 0.05 } else { 0.02 }) {
            let (at, amount) = (d.at(rng, 14, 17), rng.random_range(1..=4) * 2_000);
            self.ledger.post(
                CURRENT,
                at,
                -amount,
                format!("Cash withdrawal, {}", h.area),
                None,
                "ATM",
            );
        }
        let (operator, min, max, chance) = h.commute;
        if !weekend && rng.random_bool(chance) {
            let (at, amount) = (d.at(rng, 17, 18), price(rng, min, max));
            self.ledger.post(
                CURRENT,
                at,
                -amount,
                operator.to_owned(),
                Some(operator),
                "CARD",
            );
        }
        let big_shop = d.weekday() == h.big_shop_day && !weekend;
        if big_shop || (!weekend && rng.random_bool(0.3)) {
            let shop = *pick(rng, h.grocers);
            let at = d.at(rng, 18, 20);
            let amount = if big_shop {
                price(rng, 5_500, 12_000)
            } else {
                price(rng, 600, 2_400)
            };
            self.ledger.post(
                CURRENT,
                at,
                -amount,
                format!("{shop}, {}", h.area),
                Some(shop),
                "CARD",
            );
        }
        if rng.random_bool(if weekend {
            h.going_out.1
        } else {
            h.going_out.1 / 3.0
        }) {
            let place = *pick(rng, h.going_out.0);
            let (at, amount) = (d.at(rng, 20, 21), price(rng, 1_200, 6_800));
            self.ledger.post(
                CURRENT,
                at,
                -amount,
                format!("{place}, {}", h.area),
                Some(place),
                "CARD",
            );
        }
        if rng.random_bool(h.takeaway) {
            let (shop, min, max) = *pick(rng, TAKEAWAY);
            let (at, amount) = (d.at(rng, 21, 22), price(rng, min, max));
            self.ledger
                .post(CURRENT, at, -amount, shop.to_owned(), Some(shop), "CARD");
        }
        if rng.random_bool(h.online) {
            let (shop, min, max) = *pick(rng, ONLINE);
            let (at, amount) = (d.at(rng, 22, 23), price(rng, min, max));
            if self
                .ledger
                .post(CURRENT, at, -amount, shop.to_owned(), Some(shop), "CARD")
            {
                self.refundable.push((shop, amount, at));
            }
        }
    }

    fn payees(&mut self, d: &Day) {
        for payee in self.p.payees {
            let amount = match payee.monthly {
                Some((amount, dom)) if d.collects(dom) => amount,
                None if self.rng.random_bool(0.012) => self.rng.random_range(2..=12) * 500,
                _ => continue,
            };
            let code = if payee.monthly.is_some() { "SO" } else { "PMT" };
            let at = d.start + 23 * HOUR + self.rng.random_range(0..1_800);
            let description = format!("{} {}", payee.name, payee.reference);
            self.ledger
                .post(CURRENT, at, -amount, description, Some(payee.name), code);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::*;

    /// 2026-03-14 15:09:26 UTC.
    const NOW: UnixTime = 1_773_500_966;

    fn bank() -> DemoBank {
        generate(NOW, &|password| format!("hashed:{password}"))
    }

    #[test]
    fn iban_check_digits() {
        assert!(iban_is_valid("GB82WEST12345698765432"));
        assert!(iban_is_valid("GB33BUKB20201555555555"));
        assert!(!iban_is_valid("GB83WEST12345698765432"));
        assert!(!iban_is_valid("GB82WEST12345698765433"));
        assert_eq!(
            gb_iban("WEST", "123456", "98765432"),
            "GB82WEST12345698765432"
        );
        assert_eq!(
            gb_iban("BUKB", "202015", "55555555"),
            "GB33BUKB20201555555555"
        );
        for account in bank()
            .seed
            .accounts
            .iter()
            .filter(|a| a.scheme_name == SCHEME_IBAN)
        {
            assert!(
                iban_is_valid(&account.identification),
                "{}",
                account.identification
            );
            assert_eq!(account.identification.len(), 22);
        }
    }

    #[test]
    fn customers_have_current_savings_and_euro_accounts() {
        let bank = bank();
        let customers: Vec<&User> = bank
            .seed
            .users
            .iter()
            .filter(|u| u.role == Role::Customer)
            .collect();
        assert_eq!(customers.len(), 3);
        assert_eq!(
            bank.seed
                .users
                .iter()
                .filter(|u| u.role == Role::Operator)
                .count(),
            1
        );
        for user in customers {
            let accounts: Vec<&Account> = bank
                .seed
                .accounts
                .iter()
                .filter(|a| a.owner_user_id == user.id)
                .collect();
            let has = |subtype: &str, currency: &str, scheme: &str| {
                accounts.iter().any(|a| {
                    a.account_subtype == subtype
                        && a.currency == currency
                        && a.scheme_name == scheme
                })
            };
            assert!(
                has("CurrentAccount", "GBP", SCHEME_SORT_CODE),
                "{}",
                user.username
            );
            assert!(has("Savings", "GBP", SCHEME_SORT_CODE), "{}", user.username);
            assert!(
                has("CurrentAccount", "EUR", SCHEME_IBAN),
                "{}",
                user.username
            );
            for a in accounts
                .iter()
                .filter(|a| a.scheme_name == SCHEME_SORT_CODE)
            {
                assert!(
                    a.identification.len() == 14
                        && a.identification.bytes().all(|b| b.is_ascii_digit())
                );
            }
            assert!(
                accounts
                    .iter()
                    .all(|a| a.opened_at < NOW - 365 * DAY && a.holder_name == user.display_name)
            );
            assert!(
                user.email
                    .as_deref()
                    .is_some_and(|e| e.ends_with("@example.com"))
            );
            assert!(
                user.phone
                    .as_deref()
                    .is_some_and(|p| p.starts_with("+447700900"))
            );
        }
        let beneficiaries: HashMap<&str, usize> =
            bank.seed
                .beneficiaries
                .iter()
                .fold(HashMap::new(), |mut m, b| {
                    *m.entry(b.account_id.as_str()).or_default() += 1;
                    m
                });
        for account in bank
            .seed
            .accounts
            .iter()
            .filter(|a| a.account_subtype == "CurrentAccount" && a.currency == "GBP")
        {
            assert!(
                (2..=4).contains(&beneficiaries[account.id.as_str()]),
                "{}",
                account.nickname
            );
        }
        assert!(
            bank.seed
                .beneficiaries
                .iter()
                .all(|b| b.identification.len() == 14)
        );
        assert!(bank.seed.clients.is_empty());
    }

    #[test]
    fn balances_are_running_sums_within_limits() {
        let bank = bank();
        for account in &bank.seed.accounts {
            let txs: Vec<&Transaction> = bank
                .seed
                .transactions
                .iter()
                .filter(|t| t.account_id == account.id)
                .collect();
            assert!(
                txs.windows(2).all(|w| w[0].booked_at < w[1].booked_at),
                "{} booking order",
                account.nickname
            );
            let floor = if account.account_subtype == "CurrentAccount" && account.currency == "GBP"
            {
                -50_000
            } else {
                0
            };
            let mut balance = 0;
            for t in &txs {
                balance += t.amount_minor;
                assert_eq!(t.balance_after_minor, balance);
                assert!(balance >= floor, "{} went to {balance}", account.nickname);
                assert_eq!(t.currency, account.currency);
                assert_eq!(t.status, "Booked");
            }
            assert_eq!(account.balance_minor, balance);
            assert_eq!(
                txs.last().map(|t| t.balance_after_minor),
                Some(account.balance_minor)
            );
        }
    }

    #[test]
    fn a_year_of_varied_history_up_to_now() {
        let bank = bank();
        let txs = &bank.seed.transactions;
        assert!(
            txs.iter()
                .all(|t| t.booked_at <= NOW && t.value_at <= NOW && t.booked_at >= NOW - 365 * DAY)
        );
        for account in bank
            .seed
            .accounts
            .iter()
            .filter(|a| a.account_subtype == "CurrentAccount" && a.currency == "GBP")
        {
            let days: BTreeSet<i64> = txs
                .iter()
                .filter(|t| t.account_id == account.id)
                .map(|t| t.booked_at.div_euclid(DAY))
                .collect();
            assert!(
                days.len() >= 300,
                "{} has {} days",
                account.holder_name,
                days.len()
            );
        }
        let codes: BTreeSet<&str> = txs.iter().map(|t| t.bank_code.as_str()).collect();
        for code in ["PMT", "DD", "SO", "CARD", "TFR", "INT", "SAL", "ATM", "BBF"] {
            assert!(codes.contains(code), "no {code} transaction");
        }
        assert!(
            txs.iter()
                .any(|t| t.description.starts_with("Refund") && t.amount_minor > 0)
        );
        assert!(
            txs.iter()
                .any(|t| t.currency == "EUR" && t.bank_code == "CARD")
        );
        assert!(
            txs.iter()
                .any(|t| t.description.starts_with("Exchange to EUR"))
        );
        // Both sides of each transfer at the same instant.
        let transfers: Vec<&Transaction> = txs.iter().filter(|t| t.bank_code == "TFR").collect();
        for t in &transfers {
            assert!(transfers.iter().any(|o| o.booked_at == t.booked_at
                && o.account_id != t.account_id
                && o.amount_minor.signum() == -t.amount_minor.signum()));
        }
    }

    #[test]
    fn generation_is_deterministic_apart_from_ids() {
        /// Everything but the ids, one line per account and transaction.
        fn shape(bank: &DemoBank) -> Vec<String> {
            let ident: HashMap<&str, &str> = bank
                .seed
                .accounts
                .iter()
                .map(|a| (a.id.as_str(), a.identification.as_str()))
                .collect();
            let accounts = bank.seed.accounts.iter().map(|a| {
                format!(
                    "{} {} {} {}",
                    a.identification, a.nickname, a.balance_minor, a.opened_at
                )
            });
            let transactions = bank.seed.transactions.iter().map(|t| {
                format!(
                    "{} {} {} {:?} {} {}",
                    ident[t.account_id.as_str()],
                    t.booked_at,
                    t.amount_minor,
                    t.description,
                    t.bank_code,
                    t.balance_after_minor
                )
            });
            accounts.chain(transactions).collect()
        }
        let (a, b) = (bank(), bank());
        assert_eq!(shape(&a), shape(&b));
        assert_ne!(a.seed.users[0].id, b.seed.users[0].id);
        assert_eq!(a.credentials, b.credentials);
    }

    #[test]
    fn credentials_match_users_and_hashes_come_from_the_callback() {
        let bank = bank();
        assert_eq!(bank.credentials.len(), 4);
        for c in &bank.credentials {
            let user = bank
                .seed
                .users
                .iter()
                .find(|u| u.username == c.username)
                .unwrap();
            assert_eq!(user.password_hash, format!("hashed:{}", c.password));
            assert_eq!(user.role, c.role);
            assert_eq!(user.display_name, c.display_name);
        }
        assert!(
            bank.credentials
                .iter()
                .any(|c| c.username == "alice" && c.password == "alice-demo-2026")
        );
        assert!(
            bank.credentials
                .iter()
                .any(|c| c.username == "operator" && c.role == Role::Operator)
        );
    }

    #[test]
    fn other_moments_also_hold_the_invariants() {
        for now in [1_700_000_000, 1_800_000_123] {
            let bank = generate(now, &|p| p.to_owned());
            for account in &bank.seed.accounts {
                let sum: i64 = bank
                    .seed
                    .transactions
                    .iter()
                    .filter(|t| t.account_id == account.id)
                    .map(|t| t.amount_minor)
                    .sum();
                assert_eq!(sum, account.balance_minor);
            }
            assert!(bank.seed.transactions.iter().all(|t| t.booked_at <= now));
        }
    }
}
