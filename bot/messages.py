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

# Topics this content can never answer, whatever the similarity says: it holds exercise advice, not
# medicines, treatments, products or the diagnosis of named conditions. Edit when content is added.
OUT_OF_REMIT = (
    r"\b(medications?|medicines?|drugs?|pills?|tablets?|painkillers?|pain ?killers?|doses?|dosage|dosing|mg|milligrams?"
    r"|ibuprofen|paracetamol|acetaminophen|tylenol|advil|aspirin|naproxen|codeine|tramadol|opioids?|morphine|diazepam"
    r"|muscle relaxants?|prescri\w+|antibiotics?|steroids?|injections?|supplements?|vitamins?|cbd|cannabis"
    r"|surgery|surgeon|operations?|chiropract\w+|osteopath\w*|acupuncture|massages?|tens machine|heat packs?|ice packs?"
    r"|hot water bottle|heating pad|mattress(es)?|pillows?|back braces?|lumbar supports?|orthotics?|insoles?|shoes|footwear"
    r"|x-rays?|mri|scans?|diagnos\w+|sciatica|herniated|slipped dis[ck]s?|bulging dis[ck]s?|scoliosis|arthritis"
    r"|osteoarthritis|spondyl\w+|stenosis|fibromyalgia|kidney stones?|pregnan\w+)\b"
)

# Body parts and conditions this content does not cover. Only a weak match naming one of them is
# refused; a question that clearly matches the content ("back pain down to my foot") is answered.
OTHER_BODY_PARTS = (
    r"\b(ankles?|knees?|wrists?|elbows?|hands?|fingers?|thumbs?|toes?|heels?|head|headaches?|migraines?|eyes?|ears?"
    r"|teeth|tooth|jaw|skin|acne|rash|hair|heart|lungs?|liver|kidneys?|throat|nose|sinus\w*|bladder infection"
    r"|diabetes|asthma|flu|cold|covid|cough|allergy|allergies|blood pressure|cholesterol|pregnan\w*|period|menstrua\w*)\b"
)

REFUSAL = (
    "I'm sorry, my content doesn't cover that, so I can't answer it. I can only answer questions about "
    "back care and back exercises from the pages I hold, for example:\n\n{examples}"
)
REMIT_REFUSAL = (
    "My content doesn't cover medicines, doses, treatments, products or specific medical conditions, so I "
    "can't advise on that: please ask a doctor, pharmacist or physiotherapist. I can answer questions about "
    "back care and back exercises from the pages I hold, for example:\n\n{examples}"
)
GREETING = (
    "Hello! I answer questions about back care and back exercises, quoting trusted content and citing "
    "every passage I use. Try asking:\n\n{examples}"
)
THANKS = "You're welcome! Ask me anything else about back care or back exercises:\n\n{examples}"
EMPTY = "Please type a question about back care or back exercises, for example:\n\n{examples}"
TOO_LONG = "(Your message was long, so I read only its first {limit} characters.)"
ENGLISH_ONLY = "I can only answer in English, and I didn't find English words I could work with. Try asking, for example:\n\n{examples}"

EXAMPLE_QUESTIONS = (
    "How can exercise help my lower back pain?",
    "Which muscles support the spine?",
    "How do I avoid slouching?",
    "Why do strong legs matter when lifting?",
    "How fast should I increase my exercises?",
)

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
