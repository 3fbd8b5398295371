// The node's signing capability, as the host hands it to the protocol cores: the cores
// sign records (DHT provider records, later pub/sub envelopes) without ever holding the
// identity file or reading a secret from disk. IdentitySigner signs with an Identity the
// host loaded (core/identity_file.hpp); tests and the simulator use it with seeded
// identities. Not here: verification (core::verify in crypto.hpp, needs no secret).
#pragma once

#include "core/crypto.hpp"

namespace core {

class Signer {
public:
    virtual ~Signer() = default;
    virtual PublicKey const& public_key() const = 0;
    // An ed25519 signature of `message`. Callers domain-separate what they sign.
    virtual Signature sign(ByteView message) const = 0;
};

// Signs with a key pair the host loaded. Keeps its own copy (no lifetime to get wrong).
class IdentitySigner final : public Signer {
public:
    explicit IdentitySigner(Identity const& identity) : identity_(identity) {}
    PublicKey const& public_key() const override { return identity_.public_key; }
    Signature sign(ByteView message) const override { return core::sign(identity_.secret_key, message); }

private:
    Identity identity_;
};

}  // namespace core
