import CArrayQueuesC

/// The release version of ArrayQueues, as `aq --version` and `aq-relay --version` print it.
///
/// Its one definition is `AQ_VERSION` in the C header `arrayqueues.h`, which the C library's
/// `aq_version()` and the pkg-config file use too, so that the three cannot disagree.
public let arrayQueuesVersion: String = AQ_VERSION
