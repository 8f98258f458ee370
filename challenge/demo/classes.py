"""The demo's 100 class names: everyday ImageNet-style categories, written for the demo."""

NAMES = (
    "tench", "goldfish", "great white shark", "tiger shark", "hammerhead", "electric ray",
    "stingray", "cock", "hen", "ostrich", "goldfinch", "house finch", "junco", "indigo bunting",
    "robin", "bulbul", "jay", "magpie", "chickadee", "water ouzel", "kite", "bald eagle",
    "vulture", "great grey owl", "fire salamander", "common newt", "eft", "spotted salamander",
    "bullfrog", "tree frog", "loggerhead turtle", "leatherback turtle", "mud turtle", "terrapin",
    "box turtle", "banded gecko", "common iguana", "American chameleon", "whiptail lizard",
    "agama", "frilled lizard", "alligator lizard", "Gila monster", "green lizard",
    "African chameleon", "Komodo dragon", "African crocodile", "American alligator",
    "triceratops", "thunder snake", "ringneck snake", "hognose snake", "green snake",
    "king snake", "garter snake", "water snake", "vine snake", "night snake", "boa constrictor",
    "rock python", "Indian cobra", "green mamba", "sea snake", "horned viper", "diamondback",
    "sidewinder", "trilobite", "harvestman", "scorpion", "garden spider", "barn spider",
    "black widow", "tarantula", "wolf spider", "tick", "centipede", "black grouse", "ptarmigan",
    "ruffed grouse", "prairie chicken", "peacock", "quail", "partridge", "African grey",
    "macaw", "cockatoo", "lorikeet", "coucal", "bee eater", "hornbill", "hummingbird",
    "jacamar", "toucan", "drake", "merganser", "goose", "black swan", "tusker", "echidna",
    "platypus",
)

assert len(NAMES) == 100 and len(set(NAMES)) == 100
