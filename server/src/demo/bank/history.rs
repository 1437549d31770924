//! A customer's accounts and a year of transaction history, generated day by day.

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use time::{Date, Duration, Month, OffsetDateTime, Weekday};

use crate::clock::UnixTime;
use crate::store::{Account, Beneficiary, Transaction};

use super::ledger::Ledger;
use super::profiles::{Income, ONLINE, Profile, TAKEAWAY, Trip};
use super::{
    CURRENT, DAY, DEMO_IBAN_BANK, DEMO_SORT_CODE, EURO, HOUR, OVERDRAFT_MINOR, SAVINGS,
    SCHEME_IBAN, SCHEME_SORT_CODE, gb_iban, new_id,
};

/// One customer's accounts and history, built in booking order.
pub(super) struct Customer {
    pub(super) user_id: String,
    pub(super) accounts: Vec<Account>,
    pub(super) transactions: Vec<Transaction>,
    pub(super) beneficiaries: Vec<Beneficiary>,
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
    pub(super) fn generate(p: &'static Profile, now: UnixTime) -> Customer {
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
