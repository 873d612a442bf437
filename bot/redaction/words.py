"""The words that name a secret ("password", "token", "api_key"…), in English and the languages alerts use."""

from __future__ import annotations

import re

# "Password" in the languages alerts and tickets are written in.
_FOREIGN_WORDS = (
    r"passwort|kennwort|mot de passe|mot-de-passe|mdp|contrase|clave|senha|wachtwoord|senord|passord|adgangskode"
    r"|salasana|hasło|haslo|heslo|parola|jelsz|пароль|密码|口令|パスワード|비밀번호"
)
# Found in the lowered text, it makes the rules marked `foreign` run whatever their hints.
FOREIGN = re.compile(_FOREIGN_WORDS)
PASSWORD_WORDS = (
    r"passwort|kennwort|mot de passe|mot-de-passe|mdp|contrase(?:ñ|n)a|clave|senha|wachtwoord|l(?:ö|o)senord"
    r"|passord|adgangskode|salasana|has(?:ł|l)o|heslo|parola|jelsz(?:ó|o)|пароль|密码|口令|パスワード|비밀번호"
)
SECRET_WORD = (
    r"pass(?:word|wd|phrase|code)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key"
    r"|account[_-]?key|signing[_-]?key|encryption[_-]?key|master[_-]?key|auth|credentials?|session"
    r"|sessid|signature|sig|key[_-]data|client[_-]certificate[_-]data|(?<![A-Za-z])pw(?![A-Za-z])"
)
KEY_SUFFIX = r"(?:[_.-]?(?:key|id|value|token|secret|string|b64|base64)){0,2}"
