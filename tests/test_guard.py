"""Address decisions of the SSRF guard, made without opening any connection."""

import pytest

from transforms.guard import AddressGuard, Refused, address_problem, system_resolver


@pytest.mark.parametrize("address,problem", [
    ("169.254.169.254", "link-local"), ("10.0.0.1", "private"), ("192.168.1.1", "private"),
    ("172.16.5.4", "private"), ("127.0.0.1", "loopback"), ("::1", "loopback"),
    ("fe80::1", "link-local"), ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "link-local"), ("224.0.0.1", "multicast"),
    ("0.0.0.0", "private"), ("100.64.0.1", "non-global"), ("fc00::1", "private"),
    ("2002:7f00:1::", "loopback"),  # 6to4 wrapping 127.0.0.1
])
def test_non_public_addresses_are_refused(address, problem):
    assert address_problem(address) == problem


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946",
                                     "8.8.8.8"])
def test_public_addresses_pass(address):
    assert address_problem(address) is None


@pytest.mark.parametrize("spelling", ["2130706433", "0x7f000001", "0177.0.0.1", "127.1"])
def test_numeric_spellings_of_loopback_resolve_to_loopback(spelling):
    # getaddrinfo parses numeric hosts locally: no DNS query, no connection
    assert system_resolver(spelling, 80) == ["127.0.0.1"]
    with pytest.raises(Refused) as info:
        AddressGuard.allowing(["127.0.0.1"]).check(f"http://{spelling}/")
    assert info.value.reason == "blocked_address"


def test_every_resolved_address_is_checked():
    def resolver(host, port):  # a name with one public and one private address
        return {"mixed.example": ["93.184.216.34", "10.1.2.3"],
                "public.example": ["93.184.216.34"]}[host]

    guard = AddressGuard.allowing([], resolver)
    with pytest.raises(Refused, match="10.1.2.3"):
        guard.check("https://mixed.example/a")
    target = guard.check("https://public.example:8443/a")
    assert (target.host, target.port, target.addresses) == ("public.example", 8443,
                                                            ("93.184.216.34",))


def test_only_the_exact_allowed_host_passes():
    guard = AddressGuard.allowing(["127.0.0.1"])
    assert guard.check("http://127.0.0.1:8080/x").addresses == ("127.0.0.1",)
    for url in ("http://127.0.0.2/x", "http://localhost/x", "http://[::1]/x"):
        with pytest.raises(Refused) as info:
            guard.check(url)
        assert info.value.reason == "blocked_address", url


@pytest.mark.parametrize("url,reason", [
    ("ftp://example.com/x", "bad_scheme"), ("file:///etc/passwd", "bad_scheme"),
    ("javascript:alert(1)", "bad_scheme"), ("http:///nohost", "invalid_url"),
    ("http://example.com:99999/", "invalid_url")])
def test_bad_urls(url, reason):
    with pytest.raises(Refused) as info:
        AddressGuard.allowing([]).check(url)
    assert info.value.reason == reason
