//! RFC 7617 Basic credentials.

use base64::Engine;

use crate::Credential;

/// The `Authorization` value for Basic: `Basic base64(user:password)`.
pub fn basic_authorization(credential: &Credential) -> String {
    let raw = format!("{}:{}", credential.username, credential.password);
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7617_example() {
        let c = Credential {
            username: "Aladdin".into(),
            password: "open sesame".into(),
            secret: false,
        };
        assert_eq!(basic_authorization(&c), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    }
}
