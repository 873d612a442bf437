"""Credentials in the forms they take in alerts, logs and tickets: (name, text carrying it, the secret).

Every value is made up for the tests; none is, or was, a live credential. The provider formats follow
the published shapes (prefix, alphabet, length) so the redaction sees what it will meet in real text.
"""

from __future__ import annotations

# Assembled from pieces so the file itself does not look like a leaked credential to scanners.
_B62 = "Q7vX2mK9pL4rT8wZ1nB6cD3fH5jN0sYe"
_HEX = "9f3a7c1e5b8d2f4a6c0e8b1d3f5a7c9e"

SECRET_FORMS: list[tuple[str, str, str]] = [
    ("env_redis", "redis connect failed; env REDIS_PASSWORD=R3d!sP4ss-2024x in pod cache-0",
     "R3d!sP4ss-2024x"),
    ("env_db_pass", "migration job crashed with DB_PASS=Pr0d#Db@Pass99 set", "Pr0d#Db@Pass99"),
    ("env_pgpassword", "cron: PGPASSWORD='Pg$ecretW0rd!' psql -h db-1 -U app -c 'select 1' failed", "Pg$ecretW0rd!"),
    ("mysql_p", "backup.sh: mysqldump -u root -pMyR00tPassw0rd shop > /backup/shop.sql exited 2", "MyR00tPassw0rd"),
    ("flag_password", "deploy step ran: vault-cli login --password 'Fl4g Pass w0rd!' --user ci", "Fl4g Pass w0rd!"),
    ("flag_token", "runner invoked: terraform-cloud apply --token tfc8Hq2LmX9vR4kP7sZ1 -auto-approve",
     "tfc8Hq2LmX9vR4kP7sZ1"),
    ("prose_password", "Ticket: cannot log in to the admin panel, the password is hunter2xyz and it worked yesterday",
     "hunter2xyz"),
    ("json_client_secret", '{"client_id": "web-app", "client_secret": "cs_8Jk2Lm9Np4Qr7St1Uv5W", "grant": "x"}',
     "cs_8Jk2Lm9Np4Qr7St1Uv5W"),
    ("yaml_api_key", "config dump:\n  endpoint: https://api.internal\n  api_key: ak-77Hh3Jj9Kk2Ll5Mm8Nn\n",
     "ak-77Hh3Jj9Kk2Ll5Mm8Nn"),
    ("json_private_key_id", '{"type": "service_account", "private_key_id": "' + _HEX + 'aa11bb22"}', _HEX + "aa11bb22"),
    ("yaml_secret", "values.yaml:\n  secret: Zx9Yw8Vu7Ts6Rq5Po4\n  replicas: 3", "Zx9Yw8Vu7Ts6Rq5Po4"),
    ("json_token", 'webhook payload {"token": "tok_4Gh8Jk2Lm6Np0Qr4St8", "event": "push"}',
     "tok_4Gh8Jk2Lm6Np0Qr4St8"),
    ("header_authorization", "upstream 401: Authorization: Bearer " + _B62 + "abcd1234", _B62 + "abcd1234"),
    ("header_x_api_key", "curl -H 'X-API-Key: xk_9Pq8Rs7Tu6Vw5Xy4Za3' https://api/v1/items returned 500",
     "xk_9Pq8Rs7Tu6Vw5Xy4Za3"),
    ("cookie_session", "request headers: Cookie: sessionid=s3ss10nV4lu3Abc123xyz; csrftoken=Cs7Rf9Tk2Lm",
     "s3ss10nV4lu3Abc123xyz"),
    ("set_cookie", "response: Set-Cookie: session=Ses5Val8Xyz2Qwe7Rty1; Path=/; HttpOnly",
     "Ses5Val8Xyz2Qwe7Rty1"),
    ("aws_keys", "boto error for key AKIA" + "Q3F7H2K9L4M8N1P6 secret "
     "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("github_pat", "git push rejected, token ghp_" + _B62 + "Ab12 leaked in CI log", "ghp_" + _B62 + "Ab12"),
    ("github_fine", "found github_pat_11ABCDEFG0" + _B62 + "_" + _B62 + "xyzXYZ0123 in .env",
     "github_pat_11ABCDEFG0" + _B62),
    ("gitlab", "runner registration used glpat-" + "Xy7Wv6Ut5Sr4Qp3On2Ml", "glpat-Xy7Wv6Ut5Sr4Qp3On2Ml"),
    ("slack", "notifier config SLACK=xoxb-" + "2048-4096-" + _B62[:24], "xoxb-2048-4096-" + _B62[:24]),
    ("stripe", "payment worker using sk_" + "live_" + _B62 + " failed", "sk_live_" + _B62),
    ("sendgrid", "mail relay auth: SG." + "ngeVfQFYQlKU0ufo8x5d1A.TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr",
     "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"),
    ("twilio", "sms: TWILIO_ACCOUNT_SID=AC" + _HEX + " TWILIO_AUTH_TOKEN=" + _HEX[::-1] + " key SK" + _HEX,
     _HEX[::-1]),
    ("azure", "blob upload failed: DefaultEndpointsProtocol=https;AccountName=store1;AccountKey="
     + "Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9St1Uv3Wx5Yz7Ab9Cd1Ef3Gh5Ij7Kl9Mn1Op3Qr5St7Uv9Wx1Yz3Ab5Cd7Ef9==;"
     "EndpointSuffix=core.windows.net",
     "Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9St1Uv3Wx5Yz7Ab9Cd1Ef3Gh5Ij7Kl9Mn1Op3Qr5St7Uv9Wx1Yz3"),
    ("azure_sas", "queue: Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey="
     "Sa5Kq8Wm2Xn7Yp4Zr1Ts6Uv9=", "Sa5Kq8Wm2Xn7Yp4Zr1Ts6Uv9="),
    ("google", "maps quota error for key AIza" + "SyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW",
     "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"),
    ("openai", "model call 401 with sk-" + "proj-" + _B62 + "T3BlbkFJ", "sk-proj-" + _B62 + "T3BlbkFJ"),
    ("npm", "//registry.npmjs.org/:_authToken=npm_" + _B62 + "Ab12", "npm_" + _B62 + "Ab12"),
    ("pypi", "twine upload: password pypi-AgE" + "IcHlwaS5vcmcCJGE4" + _B62 + _B62, "pypi-AgEIcHlwaS5vcmcCJGE4" + _B62),
    ("docker_auth", '~/.docker/config.json: {"auths": {"registry.example.com": {"auth": "ZGVwbG95OlMzY3JldFJlZzE="}}}',
     "ZGVwbG95OlMzY3JldFJlZzE="),
    ("url_at_password", "worker cannot reach amqp://svc:p@ss:w0rd@Zq9@rabbit-1:5672/vhost", "p@ss:w0rd@Zq9"),
    ("pem", "key file leaked:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx7Lq9PwR2mT5vK8nJ3hG6fD1sA4zY0cX\n"
     "Vb9Nm2Kl5Jh8Gf3Dd6Ss1Aa4Qq7Ww0Ee3Rr6Tt9Yy2Uu5Ii8\n-----END RSA PRIVATE KEY-----\nrotated?",
     "MIIEowIBAAKCAQEAx7Lq9PwR2mT5vK8nJ3hG6fD1sA4zY0cX"),
    ("jwt", "token rejected: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTQyIiwiYWRtaW4iOnRydWV9."
     "Kq3Vb8Nm2Xc5Zl7Jh4Gf1Dd9Ss6Aa0Qq", "Kq3Vb8Nm2Xc5Zl7Jh4Gf1Dd9Ss6Aa0Qq"),
    ("entropy_near_word", "rotated the signing secret 7Hq2Lm9Xv4Rt8Wz1Nb6Cd3Fh5Jn0Sy today",
     "7Hq2Lm9Xv4Rt8Wz1Nb6Cd3Fh5Jn0Sy"),
]


def pieces(secret: str, size: int = 10) -> list[str]:
    """Every run of `size` characters of a secret (the secret itself when it is shorter)."""
    if len(secret) <= size:
        return [secret]
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]
