# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a host's conntrack entries of the match say at the end of the capture (conntrack.json or conntrack.txt):
entries never answered ([UNREPLIED]), and UDP entries DNATed to an address no DNAT rule of the ruleset sends to any
more - the classic "service moved, traffic black-holed" incident: a UDP flow keeps its entry (and its old
endpoint) as long as packets keep coming, whatever the rules say now. Pure."""

from __future__ import annotations

import re

# iptables: -j DNAT --to-destination 10.0.0.1[:80[-90]] (or [fd00::1]:80); nft: dnat [ip|ip6] to 10.0.0.1[:80]
_DNAT = re.compile(r'(?:--to-destination|\bdnat(?: ip6?)? to)\s+\[?([0-9A-Fa-f:.]+?)\]?(?::(\d+)(?:-\d+)?)?(?=[\s,;]|$)',
                   re.M)
_REDIRECT = re.compile(r'-j REDIRECT\b|\bredirect\b')
EXAMPLES = 3


def dnat_targets(texts):
    """(targets, redirects) of ruleset texts (save files, nft ruleset): {(address, port or None)} every DNAT rule
    sends to, and whether any REDIRECT rule exists (its entries are DNATed to the node's own addresses, which no
    rule names)."""
    targets, redirects = set(), False
    for text in texts:
        for match in _DNAT.finditer(text):
            targets.add((match.group(1), int(match.group(2)) if match.group(2) else None))
        redirects = redirects or bool(_REDIRECT.search(text))
    return targets, redirects


def _words(side, port_key):
    port = side.get(port_key)
    return side['dst'] if port is None else '%s:%s' % (side['dst'], port)


def findings(entries, texts):
    """{'unreplied': [entries never answered], 'stale_dnat': {target 'address:port': entries}} of a host."""
    unreplied = [e for e in entries if e.get('replied') is False]
    stale = {}
    targets, redirects = dnat_targets(texts)
    if targets and not redirects:
        addresses = set(address for address, _port in targets)
        for entry in entries:
            if str(entry.get('proto')).lower() not in ('udp', '17'):
                continue
            original, reply = entry['original'], entry['reply']
            target, port = reply['src'], reply.get('sport')
            if target == original['dst'] and port == original.get('dport'):
                continue  # not DNATed
            if (target, port) in targets or (target, None) in targets or (target in addresses and port is None):
                continue
            stale.setdefault(target if port is None else '%s:%s' % (target, port), []).append(entry)
    return {'unreplied': unreplied, 'stale_dnat': stale}


SAMPLE = 20  # entries a report shows of a host's conntrack.json (all are in the bundle)


def describe(entry):
    """'UDP 198.18.0.1:41000 -> 198.19.1.7:53, DNAT to 198.18.0.3:53, never answered': one entry, for a report."""
    original, reply = entry['original'], entry['reply']
    words = [example(entry)]
    if (reply['src'], reply.get('sport')) != (original['dst'], original.get('dport')):
        words.append('DNAT to %s' % (reply['src'] if reply.get('sport') is None
                                     else '%s:%s' % (reply['src'], reply['sport'])))
    if (reply['dst'], reply.get('dport')) != (original['src'], original.get('sport')):
        words.append('SNAT to %s' % (reply['dst'] if reply.get('dport') is None
                                     else '%s:%s' % (reply['dst'], reply['dport'])))
    if entry.get('replied') is False:
        words.append('never answered')
    elif entry.get('replied'):
        words.append('answered')
    return ', '.join(words)


def example(entry):
    """'UDP 198.18.0.1:41000 -> 198.19.1.7:53'."""
    original = entry['original']
    source = original['src'] if original.get('sport') is None else '%s:%s' % (original['src'], original['sport'])
    return '%s %s -> %s' % (str(entry.get('proto') or '?').upper(), source, _words(original, 'dport'))
