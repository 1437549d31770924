//! The three demo customers: who they are, what they earn and pay, where they shop and travel.

use time::Weekday;

use super::DEMO_SORT_CODE;

/// A payment collected monthly (direct debit, standing order, recurring card payment).
pub(super) struct Bill {
    pub(super) payee: &'static str,
    pub(super) reference: &'static str,
    pub(super) amount: i64,
    pub(super) day: u8,
    pub(super) code: &'static str,
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

pub(super) enum Income {
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

pub(super) struct Trip {
    /// Days after the start of the year of history.
    pub(super) starts_after: i64,
    pub(super) days: i64,
    pub(super) city: &'static str,
    pub(super) budget_gbp: i64,
    pub(super) merchants: &'static [(&'static str, i64, i64)],
}

pub(super) struct Payee {
    pub(super) name: &'static str,
    pub(super) sort_code: &'static str,
    pub(super) account: &'static str,
    pub(super) reference: &'static str,
    /// A monthly standing order to this payee: amount and day.
    pub(super) monthly: Option<(i64, u8)>,
}

pub(super) struct Habits {
    pub(super) area: &'static str,
    pub(super) commute: (&'static str, i64, i64, f64),
    pub(super) coffee: (&'static [&'static str], f64),
    pub(super) lunch: (&'static [&'static str], f64),
    pub(super) grocers: &'static [&'static str],
    pub(super) big_shop_day: Weekday,
    pub(super) going_out: (&'static [&'static str], f64),
    pub(super) takeaway: f64,
    pub(super) online: f64,
}

pub(super) struct Profile {
    pub(super) username: &'static str,
    pub(super) password: &'static str,
    pub(super) display_name: &'static str,
    pub(super) email: &'static str,
    pub(super) phone: &'static str,
    pub(super) rng_seed: u64,
    pub(super) customer_since_days: i64,
    pub(super) accounts: [&'static str; 3],
    pub(super) savings_nickname: &'static str,
    pub(super) opening: [i64; 3],
    pub(super) savings_rate_bps: i64,
    pub(super) monthly_saving: i64,
    pub(super) income: Income,
    pub(super) housing: Bill,
    pub(super) council_tax: Bill,
    pub(super) bills: &'static [Bill],
    pub(super) taxes: Option<(&'static str, i64)>,
    pub(super) payees: &'static [Payee],
    pub(super) habits: Habits,
    pub(super) trips: &'static [Trip],
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
pub(super) const ONLINE: &[(&str, i64, i64)] = &[
    ("Amazon.co.uk", 799, 6_499),
    ("ASOS", 1_800, 8_900),
    ("John Lewis", 2_500, 14_900),
    ("Waterstones", 899, 2_499),
    ("Argos", 1_200, 6_000),
    ("Boots.com", 450, 3_200),
];
pub(super) const TAKEAWAY: &[(&str, i64, i64)] =
    &[("Deliveroo", 1_650, 4_200), ("Just Eat", 1_450, 3_600)];

pub(super) const PROFILES: [Profile; 3] = [
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
