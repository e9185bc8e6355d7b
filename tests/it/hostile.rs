//! Broken devices: a device that closes the connection, answers garbage, or never answers
//! gives `error`/`inconclusive` verdicts with the failed exchange recorded, within bounded
//! time, and the run goes on to the next case.

use std::time::{Duration, Instant};

use hopquy_evidence::Verdict;
use hopquy_tests::{PASSWORD_VAR, repo_root, run_cases, suite};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Copy, Debug)]
enum Broken {
    ClosesAtOnce,
    Garbage,
    Silent,
}

async fn broken_device(kind: Broken) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                match kind {
                    Broken::ClosesAtOnce => drop(s),
                    Broken::Garbage => {
                        let _ = s.read(&mut buf).await;
                        let _ = s.write_all(b"\x00\xff\x1b[31mNOT HTTP AT ALL\r\n\r\n\xfe").await;
                    }
                    Broken::Silent => {
                        let _ = s.read(&mut buf).await;
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_devices_give_bounded_error_verdicts_and_the_run_goes_on() {
    let suite = suite();
    for kind in [Broken::ClosesAtOnce, Broken::Garbage, Broken::Silent] {
        let port = broken_device(kind).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("target.toml");
        std::fs::write(
            &path,
            format!(
                "[device]\nvendor = \"broken\"\nmodel = \"b\"\nfirmware = \"0\"\n\n[connection]\nhost = \"127.0.0.1\"\nprofile = \"simcam\"\nports = {{ http = {port}, https = {port} }}\ntimeout_s = 1\n\n[credentials]\nusername = \"admin\"\npassword_env = \"{PASSWORD_VAR}\"\n"
            ),
        )
        .unwrap();
        let target = hopquy_case::load_target_with(&path, |_| Some("Secret-1234!".to_owned())).unwrap();
        let profile = hopquy_case::load_profile("simcam", repo_root().join("profiles")).unwrap();
        let sim = hopquy_tests::Sim::from_parts(target, profile, dir);
        let started = Instant::now();
        let ids = [
            "unauthenticated-device-info",
            "cleartext-basic-auth",
            "unauthenticated-user-list",
        ];
        let (results, collect) = run_cases(&suite, &sim, "qcvn135-2024", &ids).await;
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{kind:?}: run took {:?}",
            started.elapsed()
        );
        assert_eq!(results.cases.len(), ids.len(), "{kind:?}: every case ran");
        for c in &results.cases {
            assert!(
                matches!(c.verdict, Verdict::Error | Verdict::Inconclusive),
                "{kind:?}: {} gave {} ({})",
                c.id,
                c.verdict,
                c.summary
            );
        }
        let outcomes = collect.outcomes.lock().unwrap();
        assert!(
            outcomes
                .iter()
                .all(|o| o.exchanges.iter().any(|e| e.get("error").is_some_and(|v| !v.is_null()))),
            "{kind:?}: each failed exchange is recorded with its error"
        );
    }
}
