"""Real-shaped messages for the mime tests. Written with "\\n"; `crlf()` gives wire form."""

from __future__ import annotations


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


def lf(text: str) -> bytes:
    return text.encode("utf-8")


# RFC 5322 Appendix A.1.1, with a Date and a Message-ID.
SIMPLE = """\
From: John Doe <jdoe@machine.example>
To: Mary Smith <mary@example.net>
Subject: Saying Hello
Date: Fri, 21 Nov 1997 09:55:06 -0600
Message-ID: <1234@local.machine.example>

This is a message just to say hello.
So, "Hello".
"""

ALTERNATIVE = """\
From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de>
To: "Smith, Mary" <mary@example.net>, bob@example.org
Cc: undisclosed-recipients:;
Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=
Date: Tue, 1 Jul 2003 10:52:37 +0200
Message-ID: <alt.1@example.de>
In-Reply-To: <orig.1@example.net>
References: <root.0@example.net>
 <orig.1@example.net>
MIME-Version: 1.0
Content-Type: multipart/alternative;
 boundary="----=_Part_1"

This is a multi-part message in MIME format.
------=_Part_1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Gr=C3=BC=C3=9Fe aus K=C3=B6ln,
bis bald!
------=_Part_1
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<html><head><style>p {color: red}</style></head><body><p>Gr=C3=BC=C3=9Fe aus <b>K=
=C3=B6ln</b>,</p><p>bis bald!</p></body></html>
------=_Part_1--
"""

PDF_B64 = "JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0ZURlY29kZT4+"

MIXED_PDF = f"""\
From: Alice <alice@example.com>
To: bob@example.org
Subject: Re: [team] Fwd: the report
Date: Wed, 15 Mar 2023 08:00:00 +0000
Message-ID: <mixed.1@example.com>
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: 8bit

Hi Bob, here is the r\xe9sum\xe9.
--b1
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment;
 filename*0*=UTF-8''Re%CC%81sume%CC%81%20;
 filename*1="2023.pdf"; size=64
Content-Transfer-Encoding: base64
Content-ID: <pdf1@example.com>
Content-Description: The report
Content-Language: en, fr
Content-Location: http://example.com/ report.pdf
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==

{PDF_B64}
{PDF_B64}
--b1--
"""

FORWARDED = """\
From: Carol <carol@example.com>
To: dave@example.net
Subject: Fwd: Lunch?
Date: Thu, 2 Feb 2023 12:00:00 +0100
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: text/plain

See below.
--outer
Content-Type: message/rfc822
Content-Disposition: inline

From: Erin <erin@example.org>
To: Carol <carol@example.com>
Subject: Lunch?
Date: Wed, 1 Feb 2023 11:00:00 +0100
Message-ID: <lunch@example.org>
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain; charset=us-ascii

Pizza at noon?
--inner
Content-Type: text/html; charset=us-ascii

<p>Pizza at noon?</p>
--inner--

--outer--
"""

RELATED = """\
From: news@example.com
To: you@example.net
Subject: [News] Weekly  letter
Content-Type: multipart/related; boundary="rel"; type="text/html"

--rel
Content-Type: text/html; charset=windows-1252

<html><body><h1>Caf\x80 news</h1><img src="cid:logo@example.com"><script>alert(1)</script>
<p>Read&nbsp;more &amp; more</p></body></html>
--rel
Content-Type: image/png
Content-Transfer-Encoding: base64
Content-ID: <logo@example.com>
Content-Disposition: inline; filename="logo.png"

iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==
--rel--
"""

LATIN1_SUBJECT = """\
From: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>
To: =?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>
Subject: =?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=
 =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=
Date: 21 Nov 97 09:55:06 GMT

body
"""

# RFC 5322 Appendix A.1.3 (group addresses) and A.5 (white space, comments).
GROUPS = """\
From: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>
To:A Group(Some people)
     :Chris Jones <c@(Chris's host.)public.example>,
         joe@example.org,
  John <jdoe@one.test> (my dear friend); (the end of the group)
Cc:(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;
Date: Thu,
      13
        Feb
          1969
      23:32
               -0330 (Newfoundland Time)
Message-ID:              <testabcd.1234@silly.test>

Testing.
"""

NO_BOUNDARY = """\
From: x@example.com
Subject: broken
Content-Type: multipart/mixed

--foo
Content-Type: text/plain

hello
--foo--
"""

BOUNDARY_NOT_FOUND = """\
From: x@example.com
Subject: broken too
Content-Type: multipart/mixed; boundary=nothere

--foo
Content-Type: text/plain

hello
--foo--
"""

UNTERMINATED = """\
From: x@example.com
Content-Type: multipart/mixed; boundary=u

--u
Content-Type: text/plain

first
--u
Content-Type: text/plain

second, never closed
"""

DIGEST = """\
From: list@example.com
Subject: Digest
Content-Type: multipart/digest; boundary=d

--d

From: a@example.com
Subject: one

One.
--d

From: b@example.com
Subject: two

Two.
--d--
"""

HTML_ONLY = """\
From: shop@example.com
Subject: Your order
Content-Type: text/html; charset=utf-8

<html><head><title>Order</title></head><body><div>Thanks for your order!</div>
<table><tr><td>Item</td><td>Price</td></tr></table></body></html>
"""

ALL = {
    "simple": SIMPLE,
    "alternative": ALTERNATIVE,
    "mixed_pdf": MIXED_PDF,
    "forwarded": FORWARDED,
    "related": RELATED,
    "latin1_subject": LATIN1_SUBJECT,
    "groups": GROUPS,
    "no_boundary": NO_BOUNDARY,
    "boundary_not_found": BOUNDARY_NOT_FOUND,
    "unterminated": UNTERMINATED,
    "digest": DIGEST,
    "html_only": HTML_ONLY,
}


def wire(name: str) -> bytes:
    """A fixture in CRLF form; latin-1 fixtures keep their 8-bit octets."""
    text = ALL[name]
    if name in ("mixed_pdf", "related"):
        return text.replace("\n", "\r\n").encode("latin-1")
    return crlf(text)
