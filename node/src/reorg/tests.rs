//! Plan parsing: every instruction, and each kind of bad line.

use super::*;

fn check(text: &str, expected: Result<usize, &str>) {
    match (parse_plan(text), expected) {
        (Ok(p), Ok(n)) => assert_eq!(p.steps.len(), n, "{text}"),
        (Err(e), Err(msg)) => assert!(e.to_string().contains(msg), "{e} does not say {msg}"),
        (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn plans_parse_and_bad_lines_are_named() {
    check(
        "# the reform\neffective,01/07/2025\nnote,Nghị quyết 202/2025/QH15\n\
         new,x00004,direct-superior,t01,Công đoàn phường Ba Đình\nmove,a,b\nrename,a,Tên mới\n\
         commune,00001,x00004\nchildren,h001,x00004\nclose,h001\nmerge,t02,t08\n",
        Ok(7),
    );
    check("move,a,b\n", Err("no `effective"));
    check(
        "effective,31/06/2025\n",
        Err("line 1: \"31/06/2025\" is not a date"),
    );
    check(
        "effective,01/07/2025\nsplit,a,b\n",
        Err("line 2: unknown instruction"),
    );
    check(
        "effective,01/07/2025\nmove,a\n",
        Err("line 2: move takes 3 fields, found 2"),
    );
    check(
        "effective,01/07/2025\nmove,A B,b\n",
        Err("is not a unit id"),
    );
    check(
        "effective,01/07/2025\nnew,a,mayor,b,Tên\n",
        Err("is not a unit role"),
    );
    check(
        "effective,01/07/2025\ncommune,0001,b\n",
        Err("5-digit commune code"),
    );
    check(
        "effective,01/07/2025\neffective,02/07/2025\n",
        Err("a second effective date"),
    );
}

#[test]
fn communes_are_read_from_grassroots_ids() {
    let u = |s: &str| UnitId::new(s).unwrap();
    assert_eq!(commune_of(&u("cs00001-3")), Some("00001"));
    assert_eq!(commune_of(&u("cs00001")), None);
    assert_eq!(commune_of(&u("cs0000a-1")), None);
    assert_eq!(commune_of(&u("x00001-1")), None);
}

#[test]
fn the_committed_reform_plan_is_the_generated_one() {
    let generated = reform::plan_2025(&reform::ReformData::shipped());
    let committed = include_str!("../../../data/reform_2025.plan");
    assert!(
        generated == committed,
        "data/reform_2025.plan is stale: run `sangkien unit reform-plan --out data/reform_2025.plan`"
    );
    let plan = parse_plan(committed).expect("the committed plan parses");
    let count = |f: fn(&Step) -> bool| plan.steps.iter().filter(|(_, s)| f(s)).count();
    assert_eq!(count(|s| matches!(s, Step::New { .. })), 3_321);
    assert_eq!(count(|s| matches!(s, Step::Close { .. })), 696);
    assert_eq!(count(|s| matches!(s, Step::Merge { .. })), 63 - 34);
    assert_eq!(count(|s| matches!(s, Step::Commune { .. })), 10_035);
    assert_eq!(plan.effective_ms, reorg_date());
}

fn reorg_date() -> u64 {
    date_ms(Date::parse("2025-07-01").unwrap())
}
