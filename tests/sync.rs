//! `Pipeline::sync` against the fake gateway, with a manual clock: how many gateway calls a
//! sync makes and which date ranges it asks for, checked on the fake's recorded requests, and
//! what ends up in the store.
//!
//! Besides the daily series, a sync also reads the contract (kept 7 days) and the daily max
//! power; the daily ranges are checked on the fake's request log (`Harness::ranges`), the
//! other routes by their own counters.

mod support;

use std::time::Duration;

use chrono::{Datelike, NaiveDate, NaiveTime};
use myelectricaldata_mqtt::gateway::{Gateway, v2};
use myelectricaldata_mqtt::model::{Pdl, Secret, SeriesKind};
use myelectricaldata_mqtt::pipeline::Pipeline;
use myelectricaldata_mqtt::retry::Retry;
use serde_json::json;
use support::gateway::{DEFAULT_PDL, DEFAULT_SECRET};
use support::{
    FakeGateway, Fault, FaultOn, Generation, Harness, NO_RETRY, Series, T, assert_ok, day, instant,
    stored_day, stored_total, sync, within,
};

fn pdl() -> Pdl {
    Pdl::parse(DEFAULT_PDL).unwrap()
}

/// Distinct, realistic daily values (Wh).
fn wh(d: NaiveDate) -> i64 {
    9_000 + i64::from(d.ordinal()) * 37 + i64::from(d.year() % 7)
}

fn sum_wh(from: NaiveDate, to_inclusive: NaiveDate) -> i64 {
    from.iter_days()
        .take_while(|d| *d <= to_inclusive)
        .map(wh)
        .sum()
}

fn days_between(from: NaiveDate, to_inclusive: NaiveDate) -> u32 {
    u32::try_from((to_inclusive - from).num_days() + 1).unwrap()
}

/// Three attempts per call, back to back.
const QUICK_RETRY: Retry = Retry::immediate(3);

/// A daily max power for every day of `from..=to_inclusive`, so that the max-power series is
/// complete too.
fn fill_max_power(gw: &FakeGateway, from: NaiveDate, to_inclusive: NaiveDate) {
    gw.fill_max_power(DEFAULT_PDL, from, to_inclusive, |d| {
        (
            4_000 + i64::from(d.ordinal()) * 10,
            NaiveTime::from_hms_opt(19, 42, 10).unwrap(),
        )
    });
}

/// The v2 gateway and the meters `pdls` (the Linky meters only), the clock at `now`.
fn harness(pdls: &[&str], now: &str) -> Harness {
    let meters: Vec<_> = pdls.iter().map(|p| json!({ "pdl": p })).collect();
    let mut h = Harness::linky(Generation::V2, now, &meters);
    // The real policy's attempts, without its waits.
    h.retry = Retry::immediate(myelectricaldata_mqtt::sync::GATEWAY_RETRY.attempts);
    h
}

/// The date ranges of the daily requests recorded since the last `clear_requests`,
/// checking each is a well-formed consumption request for `DEFAULT_PDL`.
fn ranges(h: &Harness) -> Vec<(NaiveDate, NaiveDate)> {
    h.gw.daily_requests()
        .iter()
        .map(|r| {
            assert_eq!(
                r.path,
                format!("/api/enedis/consumption/daily/{DEFAULT_PDL}")
            );
            assert_eq!(r.query_param("use_cache").as_deref(), Some("true"));
            assert_eq!(
                r.authorization.as_deref(),
                Some(format!("Bearer {DEFAULT_SECRET}").as_str())
            );
            let date = |name: &str| {
                r.query_param(name)
                    .and_then(|v| v.parse::<NaiveDate>().ok())
                    .unwrap_or_else(|| panic!("{name} in {:?}", r.query))
            };
            (date("start"), date("end"))
        })
        .collect()
}

async fn latest(pipeline: &Pipeline) -> Option<NaiveDate> {
    let pdl = pdl();
    let latest = pipeline.store.latest_day(&pdl, SeriesKind::Consumption);
    within(T, "latest day", latest)
        .await
        .expect("store")
        .map(|d| d.date)
}

/// Days with a value in `[from, to]` and their sum.
async fn total(pipeline: &Pipeline, from: NaiveDate, to: NaiveDate) -> (u32, i64) {
    let t = stored_total(pipeline, &pdl(), SeriesKind::Consumption, from, to).await;
    (t.days, t.wh)
}

async fn stored(pipeline: &Pipeline, date: NaiveDate) -> Option<i64> {
    stored_day(pipeline, &pdl(), SeriesKind::Consumption, date).await
}

/// Rows recorded for `[from, to]`: values and "asked, not yet" (`None`) alike.
async fn recorded(pipeline: &Pipeline, from: NaiveDate, to: NaiveDate) -> usize {
    let pdl = pdl();
    let status = pipeline
        .store
        .daily_status(&pdl, SeriesKind::Consumption, from, to);
    within(T, "daily status", status)
        .await
        .expect("store")
        .len()
}

#[tokio::test]
async fn an_empty_store_backfills_three_years_in_ceil_days_over_365_calls() {
    // 2024-01-16: 1095 days back to 2021-01-16 (3 calls); 2024-03-01: 1096 days, the
    // leap day included (4 calls).
    for (now, today, first, expected_calls) in [
        (
            "2024-01-16T09:00:00Z",
            day(2024, 1, 16),
            day(2021, 1, 16),
            3,
        ),
        ("2024-03-01T09:00:00Z", day(2024, 3, 1), day(2021, 3, 1), 4),
    ] {
        let h = harness(&[DEFAULT_PDL], now);
        // Activated long before the 36 months Enedis keeps.
        h.gw.set_pdls(&[(DEFAULT_PDL, Some(day(2015, 5, 24)))]);
        h.gw.fill(
            DEFAULT_PDL,
            Series::Consumption,
            day(2020, 1, 1),
            day(2024, 12, 31),
            wh,
        );
        let p = h.open().await;
        let summary = sync(&p).await;
        assert_ok(&summary);

        let days = (today - first).num_days();
        let ranges = ranges(&h);
        assert_eq!(
            ranges.len() as i64,
            (days + 364) / 365,
            "{today}: {ranges:?}"
        );
        assert_eq!(ranges.len(), expected_calls, "{today}: {ranges:?}");
        assert_eq!(h.gw.pdl_calls(), 1);
        // Besides the daily ranges: the meter list, the contract, one max-power range (the
        // last 30 days); every one of them counted.
        assert_eq!((h.gw.contract_calls(), h.gw.power_calls()), (1, 1));
        assert_eq!(summary.calls as usize, h.gw.requests().len());
        assert_eq!(summary.calls as usize, ranges.len() + 3);
        assert_eq!(ranges[0].0, first, "36 months back");
        assert_eq!(
            ranges.last().unwrap().1,
            today,
            "`end` exclusive: up to yesterday"
        );
        for (start, end) in &ranges {
            assert!(start < end, "{ranges:?}");
            assert!((*end - *start).num_days() <= 365, "{ranges:?}");
            assert!(*end <= today, "{ranges:?}");
        }
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].1, pair[1].0, "contiguous, no overlap: {ranges:?}");
        }

        let yesterday = today.pred_opt().unwrap();
        assert_eq!(
            total(&p, first, yesterday).await,
            (days_between(first, yesterday), sum_wh(first, yesterday))
        );
        assert_eq!(
            total(&p, day(2020, 1, 1), first.pred_opt().unwrap())
                .await
                .0,
            0
        );
        assert_eq!(latest(&p).await, Some(yesterday));
        assert_eq!(summary.new_days as i64, days);
        assert!(summary.complete);
    }
}

#[tokio::test]
async fn nothing_is_asked_before_the_meter_activation() {
    let activation = day(2022, 6, 1);
    let today = day(2024, 1, 16);
    let h = harness(&[DEFAULT_PDL], "2024-01-16T09:00:00Z");
    h.gw.set_pdls(&[(DEFAULT_PDL, Some(activation))]);
    // The fake would serve days before the activation: only the client can hold back.
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2020, 1, 1),
        day(2024, 1, 15),
        wh,
    );
    let p = h.open().await;
    let summary = sync(&p).await;
    assert_ok(&summary);

    let ranges = ranges(&h);
    assert_eq!(
        ranges,
        vec![(activation, day(2023, 6, 1)), (day(2023, 6, 1), today),]
    );
    assert!(ranges.iter().all(|(start, _)| *start >= activation));
    assert_eq!(h.gw.pdl_calls(), 1);
    assert_eq!(total(&p, day(2020, 1, 1), day(2022, 5, 31)).await, (0, 0));
    assert_eq!(recorded(&p, day(2020, 1, 1), day(2022, 5, 31)).await, 0);
    assert_eq!(
        total(&p, activation, day(2024, 1, 15)).await,
        (
            days_between(activation, day(2024, 1, 15)),
            sum_wh(activation, day(2024, 1, 15))
        )
    );
}

#[tokio::test]
async fn a_period_before_activation_is_not_an_error_and_not_asked_again() {
    let today = day(2024, 1, 16);
    let h = harness(&[DEFAULT_PDL], "2024-01-16T09:00:00Z");
    h.gw.set_pdls(&[(DEFAULT_PDL, Some(day(2022, 6, 1)))]);
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2022, 6, 1),
        day(2024, 1, 15),
        wh,
    );
    // Enedis disagrees with the account about the first range.
    h.gw.push_fault_on(
        FaultOn::Daily,
        Fault::api("ADAM-ERR0123", "Period before the meter activation"),
    );
    let p = h.open().await;
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert_eq!(h.gw.pending_faults(), 0);
    assert_eq!(
        ranges(&h),
        vec![(day(2022, 6, 1), day(2023, 6, 1)), (day(2023, 6, 1), today),]
    );
    assert_eq!(total(&p, day(2022, 6, 1), day(2023, 5, 31)).await.0, 0);
    assert_eq!(
        total(&p, day(2023, 6, 1), day(2024, 1, 15)).await.0,
        days_between(day(2023, 6, 1), day(2024, 1, 15))
    );

    h.gw.clear_requests();
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert_eq!(h.gw.daily_calls(), 0, "{:?}", ranges(&h));
}

#[tokio::test]
async fn a_complete_store_costs_nothing_and_the_meter_list_is_kept_7_days() {
    let h = harness(&[DEFAULT_PDL], "2024-01-16T09:00:00Z");
    h.gw.set_pdls(&[(DEFAULT_PDL, Some(day(2023, 6, 1)))]);
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2023, 6, 1),
        day(2024, 3, 1),
        wh,
    );
    fill_max_power(&h.gw, day(2023, 6, 1), day(2024, 3, 1));
    let p = h.open().await;
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert!(summary.complete);
    assert_eq!((h.gw.pdl_calls(), h.gw.daily_calls()), (1, 1));
    assert_eq!((h.gw.contract_calls(), h.gw.power_calls()), (1, 1));

    // Same day, later: nothing to ask.
    h.gw.clear_requests();
    h.clock.set(instant("2024-01-16T18:00:00Z"));
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert!(summary.complete);
    assert_eq!(summary.calls, 0);
    assert_eq!(summary.new_days, 0);
    assert!(h.gw.requests().is_empty(), "{:?}", h.gw.requests());

    // Six days later: the new days only, the meter list and the contract from the store.
    h.gw.clear_requests();
    h.at("2024-01-22T09:00:00Z");
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert_eq!((h.gw.pdl_calls(), h.gw.contract_calls()), (0, 0));
    assert_eq!(ranges(&h), vec![(day(2024, 1, 16), day(2024, 1, 22))]);
    assert_eq!(h.gw.power_calls(), 1);
    assert_eq!(summary.new_days, 6);
    assert_eq!(summary.calls as usize, h.gw.requests().len());

    // Seven days after they were read, the meter list and the contract are read again.
    h.gw.clear_requests();
    h.at("2024-01-23T09:00:00Z");
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert_eq!((h.gw.pdl_calls(), h.gw.contract_calls()), (1, 1));
    assert_eq!(ranges(&h), vec![(day(2024, 1, 22), day(2024, 1, 23))]);
    assert_eq!(h.gw.power_calls(), 1);
    assert_eq!(summary.calls as usize, h.gw.requests().len());
    assert_eq!(summary.calls, 4);
}

#[tokio::test]
async fn after_a_restart_nothing_stored_is_fetched_again() {
    let h = harness(&[DEFAULT_PDL], "2024-01-16T09:00:00Z");
    h.gw.set_pdls(&[(DEFAULT_PDL, Some(day(2022, 6, 1)))]);
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2022, 6, 1),
        day(2024, 3, 1),
        wh,
    );
    let p = h.open().await;
    assert_ok(&sync(&p).await);
    assert_eq!(h.gw.daily_calls(), 2);
    let before = total(&p, day(2022, 6, 1), day(2024, 1, 15)).await;
    within(T, "close the store", p.store.close()).await;
    drop(p);

    // Restart: a new store handle on the same file, a new client.
    h.gw.clear_requests();
    let p = h.open().await;
    assert_eq!(total(&p, day(2022, 6, 1), day(2024, 1, 15)).await, before);
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert!(summary.complete);
    assert_eq!((h.gw.pdl_calls(), h.gw.daily_calls()), (0, 0));

    // The next morning: only the new day.
    h.at("2024-01-17T09:00:00Z");
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert_eq!(h.gw.pdl_calls(), 0);
    assert_eq!(ranges(&h), vec![(day(2024, 1, 16), day(2024, 1, 17))]);
    assert_eq!(
        stored(&p, day(2024, 1, 16)).await,
        Some(wh(day(2024, 1, 16)))
    );
    within(T, "close the store", p.store.close()).await;
}

#[tokio::test]
async fn absent_days_are_not_yet_and_retried_only_while_recent() {
    let activation = day(2023, 12, 1);
    let h = harness(&[DEFAULT_PDL], "2024-01-16T09:00:00Z");
    h.gw.set_pdls(&[(DEFAULT_PDL, Some(activation))]);
    // Published up to 2024-01-14; 2023-12-05 never comes, 2024-01-10 is late.
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        activation,
        day(2024, 1, 14),
        wh,
    );
    h.gw.remove_day(DEFAULT_PDL, Series::Consumption, day(2023, 12, 5));
    h.gw.remove_day(DEFAULT_PDL, Series::Consumption, day(2024, 1, 10));
    let p = h.open().await;

    let summary = sync(&p).await;
    assert_ok(&summary);
    assert!(!summary.complete, "yesterday is not published yet");
    assert_eq!(ranges(&h), vec![(activation, day(2024, 1, 16))]);
    for absent in [day(2023, 12, 5), day(2024, 1, 10), day(2024, 1, 15)] {
        assert_eq!(stored(&p, absent).await, None, "{absent} is not zero");
        assert_eq!(recorded(&p, absent, absent).await, 1, "{absent} was asked");
    }
    assert_eq!(latest(&p).await, Some(day(2024, 1, 14)));

    // Same morning, nothing new: only the recent range is asked again.
    h.gw.clear_requests();
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert_eq!(ranges(&h), vec![(day(2024, 1, 10), day(2024, 1, 16))]);
    assert_eq!(h.gw.pdl_calls(), 0);

    // The next morning 2024-01-15 and 2024-01-16 are there (2024-01-10 still not), and the
    // long-missing 2023-12-05 shows up too.
    h.gw.clear_requests();
    h.at("2024-01-17T09:00:00Z");
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2024, 1, 15),
        day(2024, 1, 16),
        wh,
    );
    h.gw.set_day(DEFAULT_PDL, Series::Consumption, day(2023, 12, 5), 12_345);
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert!(summary.complete);
    assert_eq!(ranges(&h), vec![(day(2024, 1, 10), day(2024, 1, 17))]);
    assert_eq!(
        stored(&p, day(2024, 1, 15)).await,
        Some(wh(day(2024, 1, 15)))
    );
    assert_eq!(
        stored(&p, day(2024, 1, 16)).await,
        Some(wh(day(2024, 1, 16)))
    );
    assert_eq!(stored(&p, day(2024, 1, 10)).await, None);

    // 2024-01-20: 2024-01-10 is 10 days old, still asked.
    h.gw.clear_requests();
    h.at("2024-01-20T09:00:00Z");
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2024, 1, 17),
        day(2024, 1, 19),
        wh,
    );
    assert_ok(&sync(&p).await);
    assert_eq!(ranges(&h), vec![(day(2024, 1, 10), day(2024, 1, 20))]);

    // 2024-01-21: 11 days old, given up; only the new day is asked.
    h.gw.clear_requests();
    h.at("2024-01-21T09:00:00Z");
    h.gw.set_day(DEFAULT_PDL, Series::Consumption, day(2024, 1, 20), 7_000);
    assert_ok(&sync(&p).await);
    assert_eq!(ranges(&h), vec![(day(2024, 1, 20), day(2024, 1, 21))]);
    assert_eq!(stored(&p, day(2024, 1, 20)).await, Some(7_000));

    // The old absent day was never asked again.
    assert_eq!(stored(&p, day(2023, 12, 5)).await, None);
    assert_eq!(stored(&p, day(2024, 1, 10)).await, None);
}

#[tokio::test]
async fn new_days_counts_only_days_that_got_a_value() {
    // `SyncSummary::new_days` counts the days that got their first value: days already stored
    // that come back in a re-asked range are not new.
    let activation = day(2024, 1, 1);
    let h = harness(&[DEFAULT_PDL], "2024-01-16T09:00:00Z");
    h.gw.set_pdls(&[(DEFAULT_PDL, Some(activation))]);
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        activation,
        day(2024, 1, 14),
        wh,
    );
    h.gw.remove_day(DEFAULT_PDL, Series::Consumption, day(2024, 1, 10));
    let p = h.open().await;
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert_eq!(summary.new_days, 13, "2024-01-01..=14 without the 10th");

    // The next morning the late 10th, the 15th and the 16th arrive: 3 new days, although
    // the re-asked range 2024-01-10..2024-01-17 also brings back 4 known ones.
    h.gw.clear_requests();
    h.at("2024-01-17T09:00:00Z");
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2024, 1, 15),
        day(2024, 1, 16),
        wh,
    );
    h.gw.set_day(DEFAULT_PDL, Series::Consumption, day(2024, 1, 10), 11_111);
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert_eq!(ranges(&h), vec![(day(2024, 1, 10), day(2024, 1, 17))]);
    assert_eq!(stored(&p, day(2024, 1, 10)).await, Some(11_111));
    assert_eq!(summary.new_days, 3);
}

/// A backfill of two ranges whose second call meets `fault`: the first range is stored,
/// nothing of the second, and the next sync asks for exactly the second range.
async fn fault_on_the_second_range_then_resume(fault: Fault, expected: &str) {
    let activation = day(2022, 6, 1);
    let today = day(2024, 1, 16);
    let h = harness(&[DEFAULT_PDL], "2024-01-16T09:00:00Z");
    h.gw.set_pdls(&[(DEFAULT_PDL, Some(activation))]);
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        activation,
        day(2024, 1, 15),
        wh,
    );
    // Faults are taken in order by the next matching request: a zero delay lets the first
    // daily call through untouched, the fault then hits the second.
    h.gw.push_fault_on(FaultOn::Daily, Fault::Delay(Duration::ZERO));
    h.gw.push_fault_on(FaultOn::Daily, fault);
    let mut p = h.open().await;
    // The failure must survive the sync: no retry.
    p.retry = NO_RETRY;

    let summary = sync(&p).await;
    assert_eq!(h.gw.pending_faults(), 0);
    let first = (activation, day(2023, 6, 1));
    let second = (day(2023, 6, 1), today);
    assert_eq!(ranges(&h), vec![first, second]);
    assert_eq!(summary.errors.len(), 1, "{:?}", summary.errors);
    let line = summary.errors[0].to_string();
    assert!(
        line.starts_with(&format!("meter {DEFAULT_PDL}: ")),
        "{line}"
    );
    assert!(line.contains(expected), "{line}");
    assert!(summary.transient(), "worth retrying soon");
    assert!(!summary.complete);
    assert_eq!(summary.new_days, 365);

    assert_eq!(
        total(&p, first.0, day(2023, 5, 31)).await,
        (365, sum_wh(first.0, day(2023, 5, 31)))
    );
    assert_eq!(
        recorded(&p, second.0, day(2024, 1, 15)).await,
        0,
        "nothing of the failed range, not even \"not yet\""
    );
    assert_eq!(latest(&p).await, Some(day(2023, 5, 31)));

    h.gw.clear_requests();
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert!(summary.complete);
    assert_eq!(h.gw.pdl_calls(), 0);
    assert_eq!(ranges(&h), vec![second]);
    assert_eq!(
        total(&p, activation, day(2024, 1, 15)).await,
        (
            days_between(activation, day(2024, 1, 15)),
            sum_wh(activation, day(2024, 1, 15))
        )
    );
}

#[tokio::test]
async fn a_server_error_on_the_second_range_leaves_the_first_and_resumes() {
    fault_on_the_second_range_then_resume(Fault::server_error(), "HTTP 500").await;
}

#[tokio::test]
async fn enedis_unavailable_on_the_second_range_leaves_the_first_and_resumes() {
    fault_on_the_second_range_then_resume(
        Fault::api("ENEDIS_UNAVAILABLE", "Enedis API is unavailable"),
        "ENEDIS_UNAVAILABLE",
    )
    .await;
}

#[tokio::test]
async fn quota_and_rejected_credential_report_an_error_and_keep_the_store() {
    let activation = day(2023, 12, 1);
    let h = harness(&[DEFAULT_PDL], "2024-01-16T09:00:00Z");
    h.gw.set_pdls(&[(DEFAULT_PDL, Some(activation))]);
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        activation,
        day(2024, 1, 31),
        wh,
    );
    let p = h.open().await;
    assert_ok(&sync(&p).await);
    let kept = total(&p, activation, day(2024, 1, 31)).await;
    assert_eq!(kept.0, days_between(activation, day(2024, 1, 15)));

    h.at("2024-01-17T09:00:00Z");
    let faults = [
        (
            Fault::api("RATE_LIMIT_EXCEEDED", "Daily quota exceeded"),
            "quota",
            true,
        ),
        (Fault::rate_limited(), "quota", true),
        (
            Fault::status(401, r#"{"detail":"Not authenticated"}"#),
            "credential",
            false,
        ),
    ];
    // A quota answer ends the day's calls, so each fault gets a day of its own.
    for (i, (fault, expected, transient)) in faults.into_iter().enumerate() {
        let today = 17 + i as u32;
        h.at(&format!("2024-01-{today:02}T09:00:00Z"));
        h.gw.clear_requests();
        h.gw.push_fault_on(FaultOn::Daily, fault.clone());
        let summary = sync(&p).await;
        assert_eq!(h.gw.pending_faults(), 0, "{fault:?}");
        assert_eq!(ranges(&h), vec![(day(2024, 1, 16), day(2024, 1, today))]);
        assert_eq!(summary.errors.len(), 1, "{fault:?}: {:?}", summary.errors);
        let line = summary.errors[0].to_string();
        assert!(
            line.starts_with(&format!("meter {DEFAULT_PDL}: ")),
            "{line}"
        );
        assert!(line.contains(expected), "{line}");
        assert!(!line.contains(DEFAULT_SECRET), "{line}");
        assert_eq!(summary.transient(), transient, "{fault:?}");
        assert!(!summary.complete);
        assert_eq!(latest(&p).await, Some(day(2024, 1, 15)), "{fault:?}");
        assert_eq!(total(&p, activation, day(2024, 1, 31)).await, kept);
        assert_eq!(
            recorded(&p, day(2024, 1, 16), day(2024, 1, 16)).await,
            0,
            "{fault:?}: a failed call records nothing"
        );
    }

    // The account's secret changed: the real 401 of the gateway.
    h.gw.clear_requests();
    h.gw.set_secret(Some("rotated-secret-789"));
    let summary = sync(&p).await;
    assert_eq!(summary.errors.len(), 1, "{:?}", summary.errors);
    let line = summary.errors[0].to_string();
    assert!(
        line.starts_with(&format!("meter {DEFAULT_PDL}: ")),
        "{line}"
    );
    assert!(line.contains("rejected the credential"), "{line}");
    assert!(!line.contains(DEFAULT_SECRET) && !line.contains("rotated-secret-789"));
    assert!(!summary.transient(), "the user must fix the secret");
    assert_eq!(latest(&p).await, Some(day(2024, 1, 15)));
    assert_eq!(total(&p, activation, day(2024, 1, 31)).await, kept);

    // Fixed: the sync picks up where it stopped.
    h.gw.clear_requests();
    h.gw.set_secret(Some(DEFAULT_SECRET));
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert!(summary.complete);
    assert_eq!(ranges(&h), vec![(day(2024, 1, 16), day(2024, 1, 19))]);
    assert_eq!(latest(&p).await, Some(day(2024, 1, 18)));
}

#[tokio::test]
async fn a_meter_missing_from_the_account_is_an_unknown_meter() {
    let stranger = "99999999999999";
    let h = harness(&[DEFAULT_PDL, stranger], "2024-01-16T09:00:00Z");
    h.gw.set_pdls(&[(DEFAULT_PDL, Some(day(2023, 12, 1)))]);
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        day(2023, 12, 1),
        day(2024, 1, 15),
        wh,
    );
    let p = h.open().await;
    let summary = sync(&p).await;
    assert_eq!(summary.errors.len(), 1, "{:?}", summary.errors);
    let line = summary.errors[0].to_string();
    assert!(line.starts_with(&format!("meter {stranger}: ")), "{line}");
    assert!(
        line.contains("is not on this MyElectricalData account"),
        "{line}"
    );
    assert!(!summary.transient(), "the user must add it to the consent");
    assert!(!summary.complete);
    assert_eq!(h.gw.pdl_calls(), 1);
    assert!(
        h.gw.daily_requests()
            .iter()
            .all(|r| !r.path.contains(stranger)),
        "no daily call for the unknown meter"
    );
    // The known meter is synced all the same.
    assert_eq!(ranges(&h), vec![(day(2023, 12, 1), day(2024, 1, 16))]);
    assert_eq!(latest(&p).await, Some(day(2024, 1, 15)));
}

#[tokio::test]
async fn the_day_is_the_paris_day() {
    // (clock, Paris date): 23:30 UTC in winter is 00:30 the next day in Paris; 22:59 UTC is
    // still the same day; 22:30 UTC in summer (UTC+2) is already the next day.
    for (now, paris_today) in [
        ("2024-01-15T23:30:00Z", day(2024, 1, 16)),
        ("2024-01-15T22:59:00Z", day(2024, 1, 15)),
        ("2024-07-15T22:30:00Z", day(2024, 7, 16)),
    ] {
        let h = harness(&[DEFAULT_PDL], now);
        let activation = paris_today - chrono::Days::new(20);
        h.gw.set_pdls(&[(DEFAULT_PDL, Some(activation))]);
        h.gw.fill(
            DEFAULT_PDL,
            Series::Consumption,
            activation,
            paris_today.pred_opt().unwrap(),
            wh,
        );
        let p = h.open().await;
        let summary = sync(&p).await;
        assert_ok(&summary);
        assert_eq!(ranges(&h), vec![(activation, paris_today)], "clock {now}");
        assert_eq!(
            latest(&p).await,
            paris_today.pred_opt(),
            "clock {now}: yesterday in Paris"
        );
        assert!(summary.complete, "clock {now}");
    }
}

/// A harness whose meter was activated on 2024-01-01, with every day up to 2024-01-15 (and
/// its max power) published; the clock on 2024-01-16.
fn short_history() -> Harness {
    let activation = day(2024, 1, 1);
    let h = harness(&[DEFAULT_PDL], "2024-01-16T09:00:00Z");
    h.gw.set_pdls(&[(DEFAULT_PDL, Some(activation))]);
    h.gw.fill(
        DEFAULT_PDL,
        Series::Consumption,
        activation,
        day(2024, 1, 15),
        wh,
    );
    fill_max_power(&h.gw, activation, day(2024, 1, 15));
    h
}

/// The whole history of `short_history`, in one daily range.
const SHORT_RANGE: (NaiveDate, NaiveDate) = (
    NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
    NaiveDate::from_ymd_opt(2024, 1, 16).unwrap(),
);

async fn assert_status_ok(h: &Harness, p: &Pipeline) {
    let status = within(T, "meter status", p.store.meter_status(&pdl()))
        .await
        .expect("store");
    assert_eq!(status.last_error, None);
    assert_eq!(status.last_success_at, Some(h.now()));
}

async fn last_error(p: &Pipeline) -> Option<String> {
    within(T, "meter status", p.store.meter_status(&pdl()))
        .await
        .expect("store")
        .last_error
}

#[tokio::test]
async fn a_single_transient_fault_is_retried_within_the_same_sync() {
    let faults = [
        Fault::server_error(),
        Fault::status(502, ""),
        Fault::detail(503, "Service Unavailable"),
        Fault::api("ENEDIS_UNAVAILABLE", "Enedis API is unavailable"),
        Fault::api("ENEDIS_ERROR", "Enedis answered 500"),
        // `success:true` without data, and a 200 that is not JSON at all.
        Fault::Success(true, String::new(), String::new()),
        Fault::status(200, "<html>maintenance</html>"),
    ];
    for fault in faults {
        let h = short_history();
        h.gw.push_fault_on(FaultOn::Daily, fault.clone());
        let mut p = h.open().await;
        p.retry = QUICK_RETRY;
        let summary = sync(&p).await;
        assert_ok(&summary);
        assert!(summary.complete, "{fault:?}");
        assert_eq!(h.gw.pending_faults(), 0, "{fault:?}");
        assert_eq!(
            ranges(&h),
            vec![SHORT_RANGE, SHORT_RANGE],
            "{fault:?}: the range is asked again at once"
        );
        assert_eq!(summary.calls as usize, h.gw.requests().len(), "{fault:?}");
        assert_eq!(
            total(&p, SHORT_RANGE.0, day(2024, 1, 15)).await,
            (15, sum_wh(SHORT_RANGE.0, day(2024, 1, 15))),
            "{fault:?}"
        );
        assert_eq!(summary.new_days, 15, "{fault:?}");
        assert_status_ok(&h, &p).await;
    }
}

#[tokio::test]
async fn a_timeout_is_retried_and_reported_when_it_persists() {
    // The real client waits 30 s; this one gives up after 300 ms.
    let h = short_history();
    let client = |h: &Harness| {
        Gateway::V2(
            v2::Client::new(
                h.gw.url().parse().unwrap(),
                Some(Secret::new(DEFAULT_SECRET)),
                Duration::from_millis(300),
            )
            .expect("a v2 client"),
        )
    };
    h.gw.push_fault_on(FaultOn::Daily, Fault::Delay(Duration::from_millis(1_500)));
    let mut p = h.open_with(client(&h)).await;
    p.retry = QUICK_RETRY;
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert_eq!(ranges(&h), vec![SHORT_RANGE, SHORT_RANGE]);
    assert_eq!(latest(&p).await, Some(day(2024, 1, 15)));
    assert_status_ok(&h, &p).await;

    // Without retries the timeout is the sync's outcome, in one line, worth retrying soon.
    h.gw.clear_requests();
    h.at("2024-01-17T09:00:00Z");
    h.gw.set_day(DEFAULT_PDL, Series::Consumption, day(2024, 1, 16), 8_888);
    h.gw.push_fault_on(FaultOn::Daily, Fault::Delay(Duration::from_millis(1_500)));
    p.retry = NO_RETRY;
    let summary = sync(&p).await;
    assert_eq!(summary.errors.len(), 1, "{:?}", summary.errors);
    let line = summary.errors[0].to_string();
    assert!(line.contains("did not answer within"), "{line}");
    assert!(!line.contains('\n'), "{line}");
    assert!(summary.transient());
    assert_eq!(ranges(&h), vec![(day(2024, 1, 16), day(2024, 1, 17))]);
    assert_eq!(latest(&p).await, Some(day(2024, 1, 15)));
    assert_eq!(recorded(&p, day(2024, 1, 16), day(2024, 1, 16)).await, 0);
    let error = last_error(&p).await.expect("the failure is in the status");
    assert!(error.contains("did not answer within"), "{error}");
}

#[tokio::test]
async fn retries_are_bounded_and_the_last_failure_survives() {
    let h = short_history();
    for _ in 0..3 {
        h.gw.push_fault_on(FaultOn::Daily, Fault::server_error());
    }
    let mut p = h.open().await;
    p.retry = QUICK_RETRY;
    let summary = sync(&p).await;
    assert_eq!(h.gw.pending_faults(), 0);
    assert_eq!(ranges(&h), vec![SHORT_RANGE; 3], "three attempts, no more");
    assert_eq!(summary.errors.len(), 1, "{:?}", summary.errors);
    assert!(
        summary.errors[0].to_string().contains("HTTP 500"),
        "{:?}",
        summary.errors
    );
    assert!(summary.transient());
    assert!(!summary.complete);
    assert_eq!(summary.calls as usize, h.gw.requests().len());
    assert_eq!(recorded(&p, SHORT_RANGE.0, day(2024, 1, 15)).await, 0);
    assert!(last_error(&p).await.is_some_and(|e| e.contains("HTTP 500")));

    // The next sync asks once and gets everything.
    h.gw.clear_requests();
    let summary = sync(&p).await;
    assert_ok(&summary);
    assert_eq!(ranges(&h), vec![SHORT_RANGE]);
    assert_eq!(latest(&p).await, Some(day(2024, 1, 15)));
    assert_status_ok(&h, &p).await;
}

#[tokio::test]
async fn refusals_and_quota_are_not_retried() {
    let faults = [
        (
            Fault::status(401, r#"{"detail":"Not authenticated"}"#),
            "credential",
        ),
        (Fault::forbidden("Access denied to this PDL"), "refused"),
        (Fault::api("ACCESS_DENIED", "Consent expired"), "refused"),
        (
            Fault::api("RATE_LIMIT_EXCEEDED", "Daily quota exceeded"),
            "quota",
        ),
        (Fault::rate_limited(), "quota"),
        (
            Fault::api("INVALID_DATE_RANGE", "Start date must be before end date"),
            "INVALID_DATE_RANGE",
        ),
    ];
    for (fault, expected) in faults {
        let h = short_history();
        h.gw.push_fault_on(FaultOn::Daily, fault.clone());
        let mut p = h.open().await;
        p.retry = QUICK_RETRY;
        let summary = sync(&p).await;
        assert_eq!(ranges(&h), vec![SHORT_RANGE], "{fault:?}: asked once");
        assert_eq!(summary.errors.len(), 1, "{fault:?}: {:?}", summary.errors);
        assert!(
            summary.errors[0].to_string().contains(expected),
            "{:?}",
            summary.errors
        );
        assert_eq!(recorded(&p, SHORT_RANGE.0, day(2024, 1, 15)).await, 0);
        assert!(
            last_error(&p).await.is_some_and(|e| e.contains(expected)),
            "{fault:?}"
        );
    }
}
