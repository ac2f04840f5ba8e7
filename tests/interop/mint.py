#!/usr/bin/env python3
"""Mints every marketplace's tokens with PyJWT and cryptography, an implementation independent
of jwt-guard, exactly as the vendors' documents show (shared/seeds/).

Reads a JSON object of settings on standard input (secrets never go on the command line):

    {"pandium_secret": ..., "blendr_key": ..., "wrong_secret": ...,
     "versori_iss": ..., "versori_aud": ..., "partner_id": ...}

and prints one JSON object: for each marketplace its public keys where it has some, and its
tokens (valid ones and the negative cases) by name. Used by tests/interop.rs.
"""

import hashlib
import hmac
import json
import sys
import time
import urllib.parse
import uuid

import jwt
from jwt import encode
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def appdirect(settings):
    """AppDirect secure token: sub, name, tenant, iat, exp (5 minutes), signed with the
    marketplace's private key; the API fetches the public keys (a JWKS)."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    keys = []
    for kid, alg, key, algorithm in [
        ("ad-rsa", "RS256", rsa_key, jwt.algorithms.RSAAlgorithm),
        ("ad-ec", "ES256", ec_key, jwt.algorithms.ECAlgorithm),
    ]:
        jwk = json.loads(algorithm.to_jwk(key.public_key()))
        jwk.update({"kid": kid, "alg": alg, "use": "sig"})
        keys.append(jwk)

    def token(key, alg, kid, **changes):
        now = int(time.time())
        payload = {
            "sub": str(uuid.uuid4()),  # USER UUID
            "name": "user@example.com",  # EMAIL
            "tenant": settings["partner_id"],  # PARTNER ID
            "iat": now,
            "exp": now + 300,
        }
        for name, value in changes.items():
            if value is None:
                payload.pop(name, None)
            else:
                payload[name] = value
        return encode(payload, key, algorithm=alg, headers={"kid": kid})

    now = int(time.time())
    return {
        "jwks": {"keys": keys},
        "tokens": {
            "rs256": token(rsa_key, "RS256", "ad-rsa"),
            "es256": token(ec_key, "ES256", "ad-ec"),
            "other_tenant": token(rsa_key, "RS256", "ad-rsa", tenant="OTHER_PARTNER"),
            "missing_tenant": token(rsa_key, "RS256", "ad-rsa", tenant=None),
            "expired": token(rsa_key, "RS256", "ad-rsa", iat=now - 900, exp=now - 600),
            "long_lived": token(rsa_key, "RS256", "ad-rsa", exp=now + 3600),
            "wrong_key": token(
                rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256", "ad-rsa"
            ),
        },
    }


def pandium(settings):
    """Pandium: HS256 with the shared secret, no exp; the sample backend's payload, and the
    JWT page's payload with the nested `ti` object."""
    secret = settings["pandium_secret"]

    def sample_backend(secret, **changes):
        # Pandium's "Framework of a Sample Backend Service in Python", verbatim but for `sub`.
        payload = {
            'iat': int(time.time()),
            'jti': str(uuid.uuid4()),
            'external_id': '',  # Not Required.
            'meta': '',  # Not Required. Free form object to associate with your user in Pandium
            'sub': 'user@vendor.example',  # Required. Email address of your user.
        }
        for name, value in changes.items():
            if value is None:
                payload.pop(name, None)
            else:
                payload[name] = value
        return encode(payload, secret, algorithm='HS256')

    documented = {
        "iat": int(time.time()),
        "jti": str(uuid.uuid4()),
        "ti": {
            "udn": "Pandium Test",
            "ufn": "Important Person",
            "uem": "test@pandium.com",
            "ili": ["new-id", "something-different"],
            "aid": "",
            "adn": "",
            "xti": {"extraProp": "extra value", "extraList": ["bla", "listVal"]},
        },
        "sub": "test-pandium-com",
    }
    install_only = dict(documented, jti=str(uuid.uuid4()))
    install_only["ti"] = dict(
        documented["ti"],
        xti={
            "extraProp": "extra value",
            "extraList": ["val1", "listVal"],
            "connector_name": "gwt",
            "integration_name": "gwt2hs",
            "token": "your token",
        },
    )
    return {
        "tokens": {
            "sample_backend": sample_backend(secret),
            "documented": encode(documented, secret, algorithm="HS256"),
            "install_only": encode(install_only, secret, algorithm="HS256"),
            "wrong_secret": sample_backend(settings["wrong_secret"]),
            "stale_iat": sample_backend(secret, iat=int(time.time()) - 3600),
            "missing_sub": sample_backend(secret, sub=None),
            "missing_jti": sample_backend(secret, jti=None),
        }
    }


def blendr(settings):
    """Blendr.io: the JWT keyed with the partner API key, and the signed query string."""
    api_key = settings["blendr_key"]

    def token(key, **changes):
        payload = {
            "accountid": 123,
            "accountname": "ACME",
            "iat": int(time.time()),
            "api_key": "abcde12345",
        }
        for name, value in changes.items():
            if value is None:
                payload.pop(name, None)
            else:
                payload[name] = value
        return jwt.encode(payload, key, algorithm="HS256")

    def signed_query(key, timestamp, **extra):
        # Blendr's "Example in Python", verbatim but for the key.
        querystring_dict = {
            'accountid': 123,
            'accountname': 'John',
            'userid': 456,
            'timestamp': timestamp,
        }
        querystring_dict.update(extra)
        querystring = urllib.parse.urlencode(querystring_dict)
        hash = hmac.new(key.encode(), querystring.encode(), hashlib.sha256).hexdigest()
        return f"{querystring}&hash={hash}"

    now = int(time.time())
    documented = signed_query(api_key, now)
    return {
        "tokens": {
            "documented": token(api_key),
            "string_accountid": token(api_key, accountid="acme-42", userid=456, username="Jane Doe",
                                      useremail="jane@acme.example"),
            "wrong_key": token(settings["wrong_secret"]),
            "stale_iat": token(api_key, iat=now - 3600),
            "missing_accountid": token(api_key, accountid=None),
        },
        "queries": {
            "documented": documented,
            "with_credentials": signed_query(api_key, now, username="Jane Doe",
                                             useremail="jane+sso@acme.example", apikey="k3y/=&x"),
            "stale": signed_query(api_key, now - 3600),
            "wrong_key": signed_query(settings["wrong_secret"], now),
            "tampered": documented.replace("accountid=123", "accountid=124"),
        },
    }


def versori(settings):
    """A partner's signing key (Ed25519 here): the partner's server issues tokens naming the
    end user in `sub`, itself in `iss`, the receiving API in `aud`."""
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()

    def token(**changes):
        now = int(time.time())
        payload = {
            "iss": settings["versori_iss"],
            "aud": settings["versori_aud"],
            "sub": "end-user-7",
            "iat": now,
            "exp": now + 600,
        }
        for name, value in changes.items():
            if value is None:
                payload.pop(name, None)
            else:
                payload[name] = value
        return jwt.encode(payload, key, algorithm="EdDSA")

    return {
        "public_key_pem": pem,
        "tokens": {
            "valid": token(),
            "audience_list": token(aud=["billing-api", settings["versori_aud"]]),
            "wrong_aud": token(aud="billing-api"),
            "wrong_iss": token(iss="https://other.example"),
            "missing_sub": token(sub=None),
        },
    }


def main():
    settings = json.load(sys.stdin)
    json.dump(
        {
            "pyjwt": jwt.__version__,
            "appdirect": appdirect(settings),
            "pandium": pandium(settings),
            "blendr": blendr(settings),
            "versori": versori(settings),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
