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

/// Web surfaces a lab will meet on broken or odd firmware.
#[derive(Clone, Copy, Debug)]
enum OddWeb {
    /// Port 80 and a second plain port redirect to each other; no HTTPS.
    RedirectLoop,
    /// Port 80 sends the client to HTTPS on another host; nothing else serves.
    RedirectToOtherHost,
    /// No HTTP; the "HTTPS" port speaks plain HTTP.
    TlsPortSpeaksPlainHttp,
}

async fn redirecting(to: impl Fn() -> String + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let to = std::sync::Arc::new(to);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let to = to.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let answer = format!("HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\n\r\n", to());
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

/// (http port, https port) for one odd device.
async fn odd_web(kind: OddWeb) -> (u16, u16) {
    match kind {
        OddWeb::RedirectLoop => {
            let second = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(0));
            let read = second.clone();
            let first =
                redirecting(move || format!("http://127.0.0.1:{}/", read.load(std::sync::atomic::Ordering::SeqCst)))
                    .await;
            let back = redirecting(move || format!("http://127.0.0.1:{first}/")).await;
            second.store(back, std::sync::atomic::Ordering::SeqCst);
            (first, closed_port().await)
        }
        OddWeb::RedirectToOtherHost => (
            redirecting(|| "https://cloud.example.net/login".to_owned()).await,
            closed_port().await,
        ),
        OddWeb::TlsPortSpeaksPlainHttp => (closed_port().await, broken_device(Broken::Garbage).await),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_web_surfaces_give_surface_not_found_with_the_discovery_recorded() {
    let suite = suite();
    for kind in [
        OddWeb::RedirectLoop,
        OddWeb::RedirectToOtherHost,
        OddWeb::TlsPortSpeaksPlainHttp,
    ] {
        let (http, https) = odd_web(kind).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("target.toml");
        std::fs::write(
            &path,
            format!(
                "[device]\nvendor = \"odd\"\nmodel = \"o\"\nfirmware = \"0\"\n\n[connection]\nhost = \"127.0.0.1\"\nprofile = \"simcam\"\nports = {{ http = {http}, https = {https} }}\ntimeout_s = 2\n\n[credentials]\nusername = \"admin\"\npassword_env = \"{PASSWORD_VAR}\"\n"
            ),
        )
        .unwrap();
        let target = hopquy_case::load_target_with(&path, |_| Some("Secret-1234!".to_owned())).unwrap();
        let profile = hopquy_case::load_profile("simcam", repo_root().join("profiles")).unwrap();
        let sim = hopquy_tests::Sim::from_parts(target, profile, dir);
        let started = Instant::now();
        let ids = [
            "unauthenticated-device-info",
            "unauthenticated-user-list",
            "cleartext-basic-auth",
        ];
        let (results, collect) = run_cases(&suite, &sim, "qcvn135-2024", &ids).await;
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "{kind:?}: {:?}",
            started.elapsed()
        );
        assert_eq!(results.cases.len(), ids.len(), "{kind:?}: every case ran");
        for c in results.cases.iter().filter(|c| c.id != "cleartext-basic-auth") {
            assert_eq!(c.verdict, Verdict::Inconclusive, "{kind:?}: {} ({})", c.id, c.summary);
            assert_eq!(
                c.cause.as_ref().map(|cause| cause.class),
                Some(hopquy_evidence::CauseClass::SurfaceNotFound),
                "{kind:?}: {} ({})",
                c.id,
                c.summary
            );
        }
        // The cleartext question is decided where the network can decide it: a port that
        // never asks for a password in clear passes; a loop of plain redirects cannot say.
        let cleartext = results.cases.iter().find(|c| c.id == "cleartext-basic-auth").unwrap();
        let expected = match kind {
            OddWeb::RedirectLoop => Verdict::Inconclusive,
            OddWeb::RedirectToOtherHost | OddWeb::TlsPortSpeaksPlainHttp => Verdict::Pass,
        };
        assert_eq!(cleartext.verdict, expected, "{kind:?}: {}", cleartext.summary);
        // The discovery is evidence: its exchanges are recorded, and nothing but 127.0.0.1
        // was contacted.
        let outcomes = collect.outcomes.lock().unwrap();
        let exchanges: Vec<_> = outcomes.iter().flat_map(|o| o.exchanges.iter()).collect();
        assert!(
            exchanges.iter().any(|e| e["label"]
                .as_str()
                .is_some_and(|l| l.starts_with("web surface discovery"))),
            "{kind:?}: no discovery exchange recorded"
        );
        assert!(
            exchanges
                .iter()
                .all(|e| e["peer"].as_str().is_some_and(|p| p.starts_with("127.0.0.1:"))),
            "{kind:?}: another host was contacted"
        );
    }
}
