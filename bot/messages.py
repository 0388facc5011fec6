"""Every fixed text the bot says, as data: caveats, red-flag rules, refusals, greetings.

Edit wording here; the code only chooses which text applies. The caveats restate the content's own
notes: "Exercise is not recommended for acute low back pain" and "Strengthening the back with
exercises must be done progressively".
"""

ACUTE_CAVEAT = (
    "Acute pain or a fresh injury: exercise is not recommended for acute low back pain or a new injury. "
    "Keep up gentle daily activities and see a doctor or physiotherapist before you start exercising."
)
GRADUAL_CAVEAT = (
    "Progress gradually: start with easy exercises and increase slowly. Doing too much too soon "
    "can cause or increase back pain."
)
CAVEATS = (ACUTE_CAVEAT, GRADUAL_CAVEAT)

# A search for this text finds the content's own acute-pain note, cited first for fresh injuries.
ACUTE_NOTE_QUERY = "Exercise is not recommended for acute low back pain or a back injury."

URGENT_MESSAGE = (
    "**Please seek medical care now.** {reasons} can be a sign of a serious problem that needs urgent "
    "attention. Call your doctor straight away, or go to an emergency department (or call emergency "
    "services) if it is severe or getting worse. Do not start exercising until a clinician has seen you."
)

# Red flags: one row each. `match` is a regular expression over the lower-cased question; a match
# preceded in its clause by a negation ("no", "without", "I don't have") does not count.
RED_FLAGS = (
    {
        "name": "loss of bladder or bowel control",
        "match": r"(incontinen\w*|wet(ting)? (myself|the bed)|soil(ed|ing)? myself"
                 r"|(no|lost|losing|without) control (of|over) (my |the )?(bladder|bowels?)"
                 r"|(lost|losing|lose|loss of|can'?t|cannot|unable to|not able to|trouble|problems? with|difficulty|hard to)"
                 r"\W+(\w+\W+){0,4}(bladder|bowels?|pee|urinat\w*|poo|stool)"
                 r"|(bladder|bowels?|urine|urinat\w*|pee|peeing)\W+(\w+\W+){0,3}(control|leak\w*|accidents?|retention|problems?|trouble))",
    },
    {
        "name": "numbness in the groin or saddle area",
        "match": r"((numb\w*|tingl\w*|pins and needles|no feeling|can'?t feel|loss of (feeling|sensation)|lost (feeling|sensation))"
                 r"\W+(\w+\W+){0,5}(groin|saddle|genitals?|genital area|private parts?|crotch|perineum|anus|between (my|the) legs|inner thighs?|buttocks? and)"
                 r"|(groin|saddle|genitals?|private parts?|crotch|perineum|between (my|the) legs)\W+(\w+\W+){0,4}(numb\w*|tingl\w*|no feeling))",
    },
    {
        "name": "weakness or numbness in the legs that is getting worse",
        "match": r"((weak\w*|numb\w*|tingl\w*|no feeling|dead)\W+(\w+\W+){0,6}(legs?|feet|foot)\W+(\w+\W+){0,6}"
                 r"(worse|worsening|spreading|progress\w*|more and more|increasing\w*|each day|every day|by the day|by the hour)"
                 r"|(legs?|feet|foot)\W+(\w+\W+){0,4}(numb\w*|weak\w*|tingl\w*)\W+(\w+\W+){0,4}(worse|worsening|spreading|progress\w*|more and more)"
                 r"|(legs?|feet|foot)\W+(\w+\W+){0,4}(getting|growing|becoming) (weaker|number|more numb|worse)"
                 r"|both (of )?(my )?(legs|feet)\W+(\w+\W+){0,4}(numb\w*|weak\w*|tingl\w*|paraly\w*|dead|giv\w* way|gave way)"
                 r"|(numb\w*|weak\w*|tingl\w*|paraly\w*)\W+(\w+\W+){0,3}(in )?both (of )?(my )?(legs|feet)"
                 r"|can'?t (walk|stand|move my legs|lift my (foot|feet|leg))|foot drop|legs? (keep |keeps )?(giving|gave) (way|out))",
    },
    {
        "name": "back pain after a fall, accident or other significant trauma",
        "match": r"(\bfell\b|\bfallen\b|had a fall|after (a|the|my) fall|a bad fall|from a fall|slipped and (fell|landed)"
                 r"|(car|road|traffic|motorbike|motorcycle|bike|bicycle|cycling|skiing|sports?|work|workplace|riding) (accident|crash|collision)"
                 r"|(was|been|got) in an? (accident|crash|collision)|(after|since) (an?|the|my) (accident|crash|collision)"
                 r"|hit by an? (car|vehicle|truck|bus|bike)|landed on my (back|tailbone|spine)|thrown from|knocked (down|over))",
    },
    {
        "name": "fever or chills with back pain",
        "match": r"(fever\w*|chills|shivering|high temperature|a temperature|night sweats|sweating at night)",
    },
    {
        "name": "unexplained weight loss",
        "match": r"((los(t|ing)|dropp(ed|ing)|shed(ding)?) (\w+ ){0,4}(weight|pounds|lbs|kilos?|kg|stone)\W+(\w+\W+){0,6}"
                 r"(without (trying|dieting|meaning to)|for no (reason|apparent reason)|unexplained|not (trying|dieting)|don'?t know why|no idea why|unintentional\w*)"
                 r"|unexplained weight loss|unintentional weight loss|weight loss (for no|without)"
                 r"|(without (trying|dieting)|for no reason)\W+(\w+\W+){0,4}(los(t|ing)|dropp(ed|ing)) (\w+ ){0,3}weight)",
    },
    {
        "name": "a history of cancer",
        "match": r"(cancer|tumou?rs?|malignan\w*|chemo\w*|radiotherapy|oncolog\w*|metasta\w*|leuka?emia|lymphoma|myeloma)",
    },
    {
        "name": "severe pain at night or at rest",
        "match": r"((severe|worst|unbearable|excruciating|terrible|agoni[sz]ing|intense|constant|awful|extreme)"
                 r"\W+(\w+\W+){0,8}(at night|in the night|during the night|overnight|at rest|when (i'?m )?(resting|lying)|lying down)"
                 r"|(pain|hurts?|ache|aching)\W+(\w+\W+){0,6}(wakes? me|woke me|waking me|keeps? me (up|awake))"
                 r"|(at night|in the night)\W+(\w+\W+){0,6}(severe|worst|unbearable|excruciating|agoni[sz]ing))",
    },
)

NEGATION = r"\b(no|not|without|never|none|neither|nor|denies|deny|free of|don'?t have|do not have|doesn'?t have|haven'?t (had|got|noticed)|hasn'?t|didn'?t have|no sign of|no signs of|not had|not having)\b"

# {examples} is replaced by EXAMPLES_LEAD and the content's example questions (nothing when it has none).
REFUSAL = (
    "I'm sorry, my content doesn't cover that, so I can't answer it. I can only answer questions about "
    "back care from the pages I hold.{examples}"
)
# {topic}: the question's words the content does not cover, as typed ("glaucoma", "wifi or router").
NOT_COVERED = (
    "My pages don't cover {topic}, so I can't answer that. For anything my pages don't cover, please ask "
    "a doctor, pharmacist or physiotherapist. I can answer questions about back care from the pages I hold.{examples}"
)
GREETING = (
    "Hello! I answer questions about back care and back exercises, quoting trusted content and citing "
    "every passage I use.{examples}"
)
THANKS = "You're welcome! Ask me anything else about back care or back exercises.{examples}"
EMPTY = "Please type a question about back care or back exercises.{examples}"
EXAMPLES_LEAD = " Try asking, for example:"
TOO_LONG = "(Your message was long, so I read only its first {limit} characters.)"
ENGLISH_ONLY = "I can only answer in English, and I didn't find English words I could work with.{examples}"

GREETING_WORDS = r"^\W*(hi|hello|hey|hiya|howdy|good (morning|afternoon|evening)|greetings|yo)\b[\W\w]{0,20}$"
THANKS_WORDS = r"^\W*(thanks?|thank you|thx|cheers|great|ok(ay)?|cool|perfect|got it)\b[\W\w]{0,25}$"
HELP_WORDS = r"^\W*(help|what can you do|what do you (do|know)|who are you|what are you|how does this work|menu|start)\W*\??$"

# A question that describes a fresh injury or sudden pain: the acute caveat and note come first.
ACUTE_CUES = (
    r"\b(acute|sudden(ly)?|fresh|new injury|(i|i've|i have|just|recently|i just)\s+(\w+\s+)?(hurt|injured|pulled|strained|tweaked|twisted|wrenched|jarred) (my|his|her) (back|spine|neck)"
    r"|(pulled|strained|tweaked) a (muscle|back)|put my back out|threw (out )?my back( out)?|back (went|gave) (out|twinge)|spasms?|locked up"
    r"|(this|yesterday) (morning|afternoon|evening)|yesterday|today|last night|(an|one|two|a few|few) (hours?|days?) ago|since (this morning|yesterday)"
    r"|flare[- ]?up|flared up|(just|recently) (started|began))\b"
)

# Words of page layout, not advice: a sentence made only of these ("See posture page for more
# info.") stays in its passage but is never quoted as an answer on its own.
LAYOUT_WORDS = frozenset("see page pages info information read click here link more below above first".split())

SOURCES_HEADING = "**Sources**"
CAVEATS_HEADING = "**Safety notes**"
