//! How a gateway call fails, whatever the generation.

/// Why a gateway call failed. Messages are one line, say what the user can do, and never
/// contain a credential.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GatewayError {
    #[error(
        "the gateway rejected the credential ({0}): check client_secret (or the meter's token)"
    )]
    Unauthorized(String),
    #[error(
        "the gateway refused access to this meter ({0}): redo the consent on myelectricaldata.fr"
    )]
    AccessDenied(String),
    #[error("gateway quota reached ({0}): the program waits for the daily reset")]
    QuotaReached(String),
    #[error("the gateway asked for a period before the meter's activation ({0})")]
    BeforeActivation(String),
    #[error("the gateway answered {code}: {message}")]
    Api { code: String, message: String },
    #[error("the gateway failed with HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error(
        "the gateway answered HTTP {status} with a body that is not the expected JSON ({detail})"
    )]
    Malformed { status: u16, detail: String },
    /// The body went beyond what any real answer holds: refused before it is read whole.
    #[error("the gateway's answer is too large: more than {limit_mib} MiB")]
    TooLarge { limit_mib: usize },
    #[error("the gateway did not answer within {0} s")]
    Timeout(f64),
    #[error("cannot reach the gateway at {host}: {reason}")]
    Unreachable { host: String, reason: String },
    #[error("{0}")]
    Unsupported(String),
}

impl GatewayError {
    /// Nothing more can be asked in this sync: the credential, the consent or the quota.
    pub fn stops_the_sync(&self) -> bool {
        matches!(
            self,
            GatewayError::Unauthorized(_)
                | GatewayError::AccessDenied(_)
                | GatewayError::QuotaReached(_)
        )
    }

    /// Worth retrying later without any change from the user.
    pub fn is_transient(&self) -> bool {
        match self {
            GatewayError::Timeout(_)
            | GatewayError::Unreachable { .. }
            | GatewayError::Malformed { .. }
            | GatewayError::TooLarge { .. }
            | GatewayError::QuotaReached(_) => true,
            GatewayError::Http { status, .. } => *status >= 500 || *status == 429,
            GatewayError::Api { code, .. } => {
                matches!(
                    code.as_str(),
                    "ENEDIS_UNAVAILABLE" | "ENEDIS_ERROR" | "PARTIAL_DATA"
                )
            }
            GatewayError::Unauthorized(_)
            | GatewayError::AccessDenied(_)
            | GatewayError::BeforeActivation(_)
            | GatewayError::Unsupported(_) => false,
        }
    }
}
