"""The synthetic dataset's world: ingredients (how they are written and how they look) and dishes.

Forty dish categories in the spirit of Recipe1M's semantic classes. Categories share
ingredients (eggs, flour, cheese, tomatoes...) and several look alike on purpose (pancakes /
french toast / waffles, tomato soup / chili / beef stew, guacamole / hummus, pizza / quiche /
apple pie), so that neither text nor images give the category away for free.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Units by ingredient kind: (singular, plural). "" means a counted item ("2 eggs").
UNITS: dict[str, tuple[tuple[str, str], ...]] = {
    "baking": (("cup", "cups"), ("tablespoon", "tablespoons"), ("grams", "grams")),
    "sweet": (("cup", "cups"), ("tablespoon", "tablespoons"), ("tsp", "tsp")),
    "spice": (("teaspoon", "teaspoons"), ("tsp", "tsp"), ("tablespoon", "tablespoons"), ("pinch", "pinches")),
    "liquid": (("cup", "cups"), ("tablespoon", "tablespoons"), ("ml", "ml"), ("teaspoon", "teaspoons")),
    "meat": (("pound", "pounds"), ("lb", "lbs"), ("ounces", "ounces"), ("grams", "grams")),
    "cheese": (("cup", "cups"), ("ounces", "ounces"), ("tablespoons", "tablespoons")),
    "herb": (("cup", "cups"), ("tablespoon", "tablespoons"), ("sprig", "sprigs"), ("bunch", "bunches")),
    "produce": (("", ""), ("cup", "cups"), ("medium", "medium"), ("large", "large")),
    "fruit": (("", ""), ("cup", "cups"), ("pint", "pints"), ("medium", "medium")),
    "fat": (("cup", "cups"), ("tablespoon", "tablespoons"), ("stick", "sticks")),
    "count": (("", ""),),
    "grain": (("cup", "cups"), ("ounces", "ounces"), ("pound", "pounds")),
    "can": (("(15 ounce) can", "(15 ounce) cans"), ("(14.5 ounce) can", "(14.5 ounce) cans"), ("(28 ounce) can", "(28 ounce) cans")),
    "package": (("package", "packages"), ("(8 ounce) package", "(8 ounce) packages"), ("sheet", "sheets")),
}

# Preparation words by kind, used before ("chopped fresh basil") or after ("onion, diced").
PREPS: dict[str, tuple[str, ...]] = {
    "produce": ("chopped", "diced", "sliced", "finely chopped", "thinly sliced", "minced", "halved", "peeled and cubed"),
    "herb": ("chopped", "fresh", "finely chopped", "dried", "torn", "minced"),
    "meat": ("cubed", "sliced", "trimmed", "cut into bite-size pieces", "boneless", "skinless"),
    "cheese": ("shredded", "grated", "crumbled", "softened", "freshly grated"),
    "baking": ("sifted", "packed"),
    "fruit": ("sliced", "hulled and sliced", "mashed", "peeled and chopped", "halved", "rinsed"),
    "fat": ("softened", "melted", "cold and cubed", "at room temperature"),
}


@dataclass(frozen=True)
class Ingredient:
    """One ingredient: its det_ingrs name, how lines write it, and how it looks when visible."""

    name: str                       # det_ingrs text (multiword kept: "kosher salt")
    kind: str                       # key of UNITS / PREPS
    colour: str | None = None       # hex; None = invisible in the photo (salt, flour, oil)
    shape: str | None = None        # disc, leaf, dot, cube, strip, crumb, ring, wedge, blob, curl, drizzle
    forms: tuple[str, ...] = ()     # surface forms in ingredient lines; default (name,)

    def surface_forms(self) -> tuple[str, ...]:
        return self.forms or (self.name,)


def _catalogue() -> dict[str, Ingredient]:
    ing = Ingredient
    items = [
        # baking and sweet
        ing("all-purpose flour", "baking", forms=("all-purpose flour", "flour", "unbleached all-purpose flour")),
        ing("white sugar", "sweet", forms=("white sugar", "granulated sugar", "sugar")),
        ing("brown sugar", "sweet", forms=("brown sugar", "light brown sugar", "dark brown sugar")),
        ing("powdered sugar", "sweet", "#fbfbf8", "crumb", ("powdered sugar", "confectioners' sugar", "icing sugar")),
        ing("baking soda", "spice"), ing("baking powder", "spice"), ing("yeast", "spice", forms=("active dry yeast", "instant yeast")),
        ing("vanilla extract", "spice", forms=("vanilla extract", "pure vanilla extract", "vanilla")),
        ing("cocoa powder", "baking", forms=("unsweetened cocoa powder", "cocoa powder", "dutch-process cocoa")),
        ing("cornstarch", "spice"), ing("cinnamon", "spice", forms=("ground cinnamon", "cinnamon")),
        ing("nutmeg", "spice", forms=("ground nutmeg", "freshly grated nutmeg")),
        ing("butter", "fat", "#f6e29a", "blob", ("butter", "unsalted butter", "salted butter")),
        ing("eggs", "count", "#f7f3e8", "blob", ("eggs", "large eggs", "egg whites")),
        ing("milk", "liquid", forms=("milk", "whole milk", "2% milk", "buttermilk")),
        ing("heavy cream", "liquid", "#fbf7ee", "drizzle", ("heavy cream", "heavy whipping cream", "half-and-half")),
        ing("honey", "liquid", "#e0a526", "drizzle"), ing("maple syrup", "liquid", "#9b4f1c", "drizzle", ("maple syrup", "pure maple syrup")),
        ing("chocolate chips", "sweet", "#3a2214", "dot", ("semisweet chocolate chips", "chocolate chips", "dark chocolate chunks")),
        ing("walnuts", "grain", "#9a7248", "crumb", ("chopped walnuts", "walnuts", "walnut halves")),
        ing("pecans", "grain", "#8a5a36", "crumb", ("pecans", "chopped pecans")),
        ing("sprinkles", "sweet", "#e8508a", "dot", ("rainbow sprinkles", "sprinkles", "nonpareils")),
        ing("graham cracker crumbs", "baking"), ing("pie crust", "package", forms=("refrigerated pie crust", "pie crust", "unbaked pie shell")),
        ing("bread", "count", forms=("slices bread", "slices thick-cut bread", "slices brioche", "slices day-old french bread")),
        ing("whipped cream", "cheese", "#ffffff", "blob", ("whipped cream", "whipped topping")),
        ing("breadcrumbs", "baking", "#d8b277", "crumb", ("breadcrumbs", "panko bread crumbs", "dry bread crumbs")),
        # fruit
        ing("blueberries", "fruit", "#3a3f8c", "dot", ("fresh blueberries", "blueberries", "frozen blueberries")),
        ing("strawberries", "fruit", "#d42a3a", "wedge", ("strawberries", "fresh strawberries", "hulled strawberries")),
        ing("bananas", "fruit", "#f2e3a0", "disc", ("ripe bananas", "bananas", "overripe bananas")),
        ing("apples", "fruit", "#eadba5", "wedge", ("granny smith apples", "apples", "tart apples")),
        ing("lemon", "fruit", "#f5dc3c", "wedge", ("lemon", "lemons")), ing("lime", "fruit", "#86c23c", "wedge", ("lime", "limes")),
        ing("lemon juice", "liquid", forms=("lemon juice", "fresh lemon juice")), ing("lime juice", "liquid", forms=("lime juice", "fresh lime juice")),
        ing("grapes", "fruit", "#6a2a5a", "dot", ("seedless grapes", "red grapes", "grapes")),
        ing("pineapple", "fruit", "#f7d03c", "cube", ("pineapple chunks", "fresh pineapple", "pineapple")),
        ing("kiwi", "fruit", "#7bb33a", "disc", ("kiwi", "kiwifruit")), ing("mango", "fruit", "#f5a623", "cube", ("mango", "ripe mango")),
        ing("orange", "fruit", "#f28a1e", "wedge", ("oranges", "navel orange", "orange")),
        # vegetables
        ing("onion", "produce", "#efe6cf", "cube", ("onion", "yellow onion", "white onion", "sweet onion")),
        ing("red onion", "produce", "#9c3b6c", "ring"), ing("garlic", "count", "#f1ecda", "crumb", ("cloves garlic", "garlic cloves", "cloves garlic, minced")),
        ing("green onions", "produce", "#5cae43", "ring", ("green onions", "scallions", "spring onions")),
        ing("tomatoes", "produce", "#d8322a", "disc", ("tomatoes", "roma tomatoes", "ripe tomatoes")),
        ing("cherry tomatoes", "produce", "#e0302a", "dot", ("cherry tomatoes", "grape tomatoes")),
        ing("diced tomatoes", "can", "#c43a2a", "cube", ("diced tomatoes", "petite diced tomatoes", "crushed tomatoes")),
        ing("tomato sauce", "liquid", forms=("tomato sauce", "marinara sauce", "pizza sauce")), ing("tomato paste", "spice"),
        ing("carrots", "produce", "#f08a24", "cube", ("carrots", "baby carrots", "large carrots")),
        ing("celery", "produce", "#a4c86c", "cube", ("celery", "stalks celery", "celery ribs")),
        ing("potatoes", "produce", "#e8d298", "cube", ("potatoes", "russet potatoes", "yukon gold potatoes", "red potatoes")),
        ing("red bell pepper", "produce", "#d6261e", "strip", ("red bell pepper", "red bell peppers")),
        ing("green bell pepper", "produce", "#3f9b36", "strip", ("green bell pepper", "green peppers")),
        ing("jalapeno", "produce", "#4d9a2a", "ring", ("jalapeno", "jalapeno pepper", "jalapenos")),
        ing("broccoli", "produce", "#2f7d32", "blob", ("broccoli florets", "broccoli", "head broccoli")),
        ing("spinach", "produce", "#2d6a2d", "leaf", ("baby spinach", "fresh spinach", "spinach")),
        ing("romaine lettuce", "produce", "#86c25c", "leaf", ("romaine lettuce", "hearts of romaine", "romaine")),
        ing("lettuce", "produce", "#9fd06a", "leaf", ("shredded lettuce", "iceberg lettuce", "lettuce")),
        ing("cucumber", "produce", "#a8d08c", "disc", ("cucumber", "english cucumber", "cucumbers")),
        ing("avocado", "produce", "#9cc15a", "wedge", ("avocados", "ripe avocados", "hass avocados")),
        ing("mushrooms", "produce", "#b79f86", "disc", ("mushrooms", "cremini mushrooms", "button mushrooms", "white mushrooms")),
        ing("zucchini", "produce", "#8fbf6a", "disc"), ing("asparagus", "produce", "#5a9a3a", "strip", ("asparagus", "asparagus spears")),
        ing("peas", "produce", "#6cbf4a", "dot", ("frozen peas", "peas", "green peas")),
        ing("corn", "produce", "#f4d23e", "dot", ("corn kernels", "frozen corn", "sweet corn")),
        ing("bean sprouts", "produce", "#f3efd8", "strip", ("bean sprouts", "fresh bean sprouts")),
        ing("black beans", "can", "#2b2323", "dot"), ing("kidney beans", "can", "#7a2a2a", "dot", ("kidney beans", "red kidney beans")),
        ing("chickpeas", "can", "#d8b97a", "dot", ("chickpeas", "garbanzo beans")),
        ing("kalamata olives", "grain", "#3b2a3b", "disc", ("kalamata olives", "pitted kalamata olives", "black olives")),
        ing("pickles", "produce", "#8aa63a", "disc", ("dill pickles", "pickle slices", "pickles")),
        # grains, pasta, bread
        ing("rice", "grain", forms=("cooked rice", "long-grain white rice", "jasmine rice", "day-old cooked rice")),
        ing("sushi rice", "grain", forms=("sushi rice", "short-grain rice")), ing("arborio rice", "grain"),
        ing("spaghetti", "grain", forms=("spaghetti", "dry spaghetti", "spaghetti noodles")),
        ing("linguine", "grain", forms=("linguine", "linguine pasta", "angel hair pasta")),
        ing("rice noodles", "grain", forms=("rice noodles", "flat rice noodles", "pad thai noodles")),
        ing("egg noodles", "grain", "#f2d58a", "strip", ("egg noodles", "wide egg noodles")),
        ing("elbow macaroni", "grain", forms=("elbow macaroni", "macaroni", "small pasta shells")),
        ing("lasagna noodles", "package", forms=("lasagna noodles", "oven-ready lasagna noodles")),
        ing("tortillas", "count", forms=("flour tortillas", "corn tortillas", "taco shells")),
        ing("hamburger buns", "count", forms=("hamburger buns", "brioche buns", "sesame seed buns")),
        ing("croutons", "grain", "#d8a45a", "cube", ("croutons", "garlic croutons")),
        ing("pizza dough", "package", forms=("pizza dough", "prepared pizza crust", "pizza crust")),
        ing("rolled oats", "grain", "#d9c08a", "crumb", ("rolled oats", "old-fashioned oats", "quick oats")),
        # protein
        ing("ground beef", "meat", "#6a3a28", "crumb", ("ground beef", "lean ground beef", "ground chuck")),
        ing("beef chuck", "meat", "#6e3426", "cube", ("beef chuck", "stew meat", "beef chuck roast")),
        ing("beef sirloin", "meat", "#7a3a2a", "strip", ("beef sirloin", "flank steak", "sirloin steak")),
        ing("chicken breast", "meat", "#e4c597", "cube", ("chicken breasts", "boneless skinless chicken breasts", "cooked chicken")),
        ing("chicken thighs", "meat", "#c98a4a", "cube", ("chicken thighs", "boneless chicken thighs")),
        ing("whole chicken", "meat", forms=("whole chicken", "roasting chicken", "whole fryer chicken")),
        ing("bacon", "meat", "#b3443a", "strip", ("bacon", "slices bacon", "thick-cut bacon")),
        ing("ham", "meat", "#e79a9a", "cube", ("cooked ham", "ham", "diced ham")),
        ing("pepperoni", "meat", "#b02c24", "disc", ("pepperoni", "sliced pepperoni", "pepperoni slices")),
        ing("italian sausage", "meat", "#8a4a3a", "crumb", ("italian sausage", "sweet italian sausage", "hot italian sausage")),
        ing("shrimp", "meat", "#f2906e", "curl", ("shrimp", "large shrimp", "peeled and deveined shrimp")),
        ing("salmon", "meat", "#f08a5a", "cube", ("salmon fillets", "salmon", "sushi-grade salmon")),
        ing("tuna", "meat", "#b8323a", "cube", ("sushi-grade tuna", "ahi tuna", "tuna")),
        ing("tofu", "meat", "#f2ead0", "cube", ("firm tofu", "extra-firm tofu", "tofu")),
        ing("anchovies", "count", forms=("anchovy fillets", "anchovies")),
        # dairy
        ing("mozzarella cheese", "cheese", "#f6f0da", "blob", ("mozzarella cheese", "fresh mozzarella", "part-skim mozzarella")),
        ing("cheddar cheese", "cheese", "#f2a83a", "crumb", ("cheddar cheese", "sharp cheddar cheese", "mild cheddar")),
        ing("parmesan cheese", "cheese", "#f3e6b8", "crumb", ("parmesan cheese", "parmigiano-reggiano", "grated parmesan")),
        ing("feta cheese", "cheese", "#f8f8ee", "cube", ("feta cheese", "crumbled feta")),
        ing("swiss cheese", "cheese", "#f4e7a0", "crumb", ("swiss cheese", "gruyere cheese", "emmental")),
        ing("ricotta cheese", "cheese", "#fbf8ee", "blob", ("ricotta cheese", "whole-milk ricotta")),
        ing("cream cheese", "package", forms=("cream cheese", "softened cream cheese")),
        ing("sour cream", "cheese", "#fafaf4", "blob"), ing("yogurt", "liquid", forms=("plain yogurt", "greek yogurt", "vanilla yogurt")),
        ing("mayonnaise", "liquid"), ing("mustard", "spice", forms=("dijon mustard", "yellow mustard", "mustard")),
        # herbs, spices, sauces
        ing("basil", "herb", "#2e8a3a", "leaf", ("fresh basil leaves", "basil", "fresh basil")),
        ing("parsley", "herb", "#3b8c2e", "crumb", ("fresh parsley", "flat-leaf parsley", "parsley")),
        ing("cilantro", "herb", "#47a03a", "leaf", ("fresh cilantro", "cilantro", "cilantro leaves")),
        ing("dill", "herb", "#5a9a3a", "crumb", ("fresh dill", "dill weed")), ing("mint", "herb", "#3aa050", "leaf", ("fresh mint", "mint leaves")),
        ing("chives", "herb", "#4a9a3a", "crumb"), ing("thyme", "herb", forms=("fresh thyme", "dried thyme", "thyme")),
        ing("rosemary", "herb", forms=("fresh rosemary", "rosemary")), ing("oregano", "spice", forms=("dried oregano", "oregano")),
        ing("ginger", "spice", forms=("fresh ginger", "grated ginger", "ground ginger")),
        ing("salt", "spice", forms=("salt", "sea salt")), ing("kosher salt", "spice"),
        ing("black pepper", "spice", forms=("black pepper", "ground black pepper", "freshly ground black pepper")),
        ing("red pepper flakes", "spice", forms=("red pepper flakes", "crushed red pepper")),
        ing("paprika", "spice", "#c0452a", "crumb", ("paprika", "smoked paprika")),
        ing("cumin", "spice", forms=("ground cumin", "cumin")), ing("chili powder", "spice"),
        ing("curry powder", "spice", forms=("curry powder", "garam masala", "yellow curry paste")),
        ing("taco seasoning", "spice", forms=("taco seasoning", "taco seasoning mix")),
        ing("olive oil", "liquid", forms=("olive oil", "extra-virgin olive oil")),
        ing("vegetable oil", "liquid", forms=("vegetable oil", "canola oil", "oil for frying")),
        ing("sesame oil", "liquid", forms=("sesame oil", "toasted sesame oil")), ing("soy sauce", "liquid", forms=("soy sauce", "low-sodium soy sauce")),
        ing("fish sauce", "liquid"), ing("rice vinegar", "liquid", forms=("rice vinegar", "seasoned rice vinegar")),
        ing("red wine vinegar", "liquid"), ing("red wine", "liquid", forms=("dry red wine", "red wine")),
        ing("white wine", "liquid", forms=("dry white wine", "white wine")),
        ing("chicken broth", "liquid", forms=("chicken broth", "chicken stock", "low-sodium chicken broth")),
        ing("beef broth", "liquid", forms=("beef broth", "beef stock")), ing("vegetable broth", "liquid", forms=("vegetable broth", "vegetable stock")),
        ing("coconut milk", "can", forms=("coconut milk", "light coconut milk")), ing("tahini", "liquid", forms=("tahini", "sesame paste")),
        ing("worcestershire sauce", "liquid"), ing("caesar dressing", "liquid", forms=("caesar dressing", "creamy caesar dressing")),
        ing("ketchup", "liquid", "#b8221a", "drizzle"), ing("salsa", "liquid", "#c0392b", "crumb", ("salsa", "chunky salsa", "pico de gallo")),
        ing("sesame seeds", "spice", "#efe2bf", "dot", ("sesame seeds", "toasted sesame seeds")),
        ing("peanuts", "grain", "#c8995a", "crumb", ("chopped peanuts", "roasted peanuts", "peanuts")),
        ing("nori", "package", forms=("nori sheets", "sheets nori", "nori")),
        ing("tamarind paste", "spice", forms=("tamarind paste", "tamarind concentrate")),
        ing("ice", "grain", forms=("ice cubes", "crushed ice", "ice")),
        # flavours that tint a dish's body and drizzled garnishes (drawn by synth_food, not as toppings)
        ing("pesto", "liquid", forms=("pesto", "basil pesto")), ing("beet puree", "liquid", forms=("beet puree", "roasted beet puree")),
        ing("turmeric", "spice", forms=("ground turmeric", "turmeric")), ing("coconut cream", "liquid"),
        ing("squid ink", "spice", forms=("squid ink", "cuttlefish squid ink")), ing("matcha powder", "spice", forms=("matcha powder", "culinary matcha powder")),
        ing("pumpkin puree", "liquid", forms=("pumpkin puree", "canned pumpkin puree")),
        ing("balsamic glaze", "liquid"), ing("sriracha", "liquid", forms=("sriracha", "sriracha sauce")),
    ]
    return {i.name: i for i in items}


INGREDIENTS: dict[str, Ingredient] = _catalogue()


@dataclass(frozen=True)
class Dish:
    """A dish category: its ingredients, how it is cooked, and how its photo is composed."""

    name: str                                    # class name, appears in most titles
    core: tuple[str, ...]                        # always present
    common: tuple[str, ...] = ()                 # each present with probability ~0.55
    subs: dict[str, tuple[str, ...]] = field(default_factory=dict)  # core -> substitutes
    method: str = "bake"                         # key of synth_text.METHODS
    utensils: tuple[str, ...] = ("oven",)
    alt_titles: tuple[str, ...] = ()             # titles without the class name -> background class
    vessel: str = "plate"                        # plate, bowl, board, tray, dish, glass
    form: str = "disc"                           # main shape, see synth_images.FORMS
    colours: tuple[str, ...] = ("#d9a35b",)      # base colours, outer to inner
    texture: str = "smooth"                      # smooth, speckle, grid, lattice, stripes, swirl, dots, rings, spokes, waves, chevrons, cracks
    count: tuple[int, int] = (1, 1)              # number of main items (cookies, rolls...)
    hidden: tuple[str, ...] = ()                 # visible ingredients that the base already shows


def _dishes() -> tuple[Dish, ...]:
    D = Dish
    return (
        D("pizza", ("pizza dough", "tomato sauce", "mozzarella cheese"), ("pepperoni", "basil", "mushrooms", "green bell pepper", "kalamata olives", "italian sausage", "red onion", "oregano", "olive oil"),
          {"pepperoni": ("italian sausage", "ham")}, "bake", ("oven", "pizza stone", "baking sheet", "rolling pin"), ("Homemade Flatbread", "Friday Night Pie"),
          "board", "disc", ("#d9a35b", "#c0392b", "#f1dfa8"), "speckle", hidden=("mozzarella cheese",)),
        D("chocolate chip cookies", ("all-purpose flour", "butter", "white sugar", "brown sugar", "eggs", "vanilla extract", "baking soda", "salt", "chocolate chips"), ("walnuts", "pecans", "rolled oats"),
          {"chocolate chips": ("chocolate chips",)}, "bake", ("oven", "baking sheet", "mixing bowl", "electric mixer", "wire rack"), ("Grandma's Famous Cookie Jar Treats", "Chewy Chocolate Chunk Bites"),
          "tray", "pieces", ("#c8904e",), "speckle", (5, 9), hidden=("butter", "eggs")),
        D("caesar salad", ("romaine lettuce", "parmesan cheese", "croutons", "caesar dressing"), ("lemon juice", "garlic", "anchovies", "chicken breast", "black pepper", "bacon"),
          {}, "raw", ("salad bowl", "whisk", "mixing bowl"), ("Classic Romaine with Garlic Croutons",),
          "bowl", "heap", ("#8ec065",), "speckle", hidden=("romaine lettuce",)),
        D("beef stew", ("beef chuck", "carrots", "potatoes", "onion", "beef broth"), ("tomato paste", "red wine", "thyme", "all-purpose flour", "peas", "celery", "worcestershire sauce"),
          {"beef broth": ("beef broth", "vegetable broth")}, "simmer", ("dutch oven", "large pot", "wooden spoon", "slow cooker"), ("Hearty Winter Pot", "Slow Cooker Sunday Supper"),
          "bowl", "liquid", ("#7a3f23",), "speckle"),
        D("pancakes", ("all-purpose flour", "milk", "eggs", "baking powder", "white sugar", "butter"), ("maple syrup", "blueberries", "bananas", "strawberries", "vanilla extract"),
          {"milk": ("milk",)}, "griddle", ("griddle", "skillet", "whisk", "spatula", "mixing bowl"), ("Fluffy Buttermilk Flapjacks", "Weekend Breakfast Stack"),
          "plate", "stack", ("#d9a05b",), "smooth", (3, 5), hidden=("eggs",)),
        D("sushi roll", ("sushi rice", "nori", "rice vinegar"), ("salmon", "tuna", "cucumber", "avocado", "sesame seeds", "soy sauce", "white sugar"),
          {"salmon": ("tuna", "shrimp")}, "roll", ("bamboo mat", "sharp knife", "rice cooker"), ("Homemade Maki", "California Style Rolls"),
          "board", "rolls", ("#1e2b1e", "#f6f3ea"), "smooth", (5, 8)),
        D("spaghetti bolognese", ("spaghetti", "ground beef", "tomato sauce", "onion", "garlic"), ("parmesan cheese", "basil", "carrots", "red wine", "celery", "olive oil", "oregano"),
          {"ground beef": ("italian sausage",)}, "boil", ("large pot", "skillet", "colander", "wooden spoon"), ("Nonna's Sunday Meat Sauce",),
          "plate", "strands", ("#f0d58c", "#a83a22"), "smooth", hidden=("ground beef",)),
        D("chicken curry", ("chicken thighs", "curry powder", "onion", "garlic", "ginger", "coconut milk"), ("cilantro", "peas", "potatoes", "tomatoes", "rice", "cumin", "vegetable oil"),
          {"chicken thighs": ("chicken breast",)}, "simmer", ("large skillet", "saucepan", "wooden spoon"), ("Spicy Coconut Chicken Pot",),
          "bowl", "liquid", ("#d9952a",), "spokes"),
        D("tacos", ("tortillas", "ground beef", "taco seasoning"), ("cheddar cheese", "lettuce", "tomatoes", "sour cream", "salsa", "cilantro", "onion", "lime"),
          {"ground beef": ("chicken breast", "shrimp")}, "fry", ("skillet", "cutting board"), ("Tuesday Night Fiesta",),
          "plate", "folded", ("#e8c170",), "speckle", (2, 3)),
        D("hamburger", ("ground beef", "hamburger buns"), ("cheddar cheese", "lettuce", "tomatoes", "red onion", "pickles", "ketchup", "bacon", "mustard", "worcestershire sauce"),
          {}, "grill", ("grill", "spatula", "skillet"), ("Backyard Cookout Special", "Double Stack Cheese Sandwich"),
          "plate", "burger", ("#d89a4a", "#5a2e1e"), "smooth"),
        D("french toast", ("bread", "eggs", "milk", "cinnamon"), ("vanilla extract", "maple syrup", "powdered sugar", "strawberries", "butter", "nutmeg", "blueberries"),
          {}, "griddle", ("skillet", "griddle", "shallow dish", "whisk", "spatula"), ("Eggy Bread Breakfast", "Lazy Sunday Brioche"),
          "plate", "slices", ("#cf9447",), "speckle", (2, 4), hidden=("eggs",)),
        D("greek salad", ("cucumber", "tomatoes", "feta cheese", "kalamata olives", "red onion", "olive oil"), ("oregano", "green bell pepper", "red wine vinegar", "romaine lettuce", "lemon juice"),
          {"tomatoes": ("cherry tomatoes",)}, "raw", ("salad bowl", "cutting board"), ("Mediterranean Village Bowl",),
          "bowl", "heap", ("#b9d08a",), "smooth"),
        D("tomato soup", ("tomatoes", "onion", "garlic", "chicken broth", "heavy cream"), ("basil", "butter", "olive oil", "white sugar", "black pepper"),
          {"tomatoes": ("diced tomatoes",), "chicken broth": ("vegetable broth",)}, "simmer", ("large pot", "blender", "immersion blender", "ladle"), ("Creamy Red Bisque",),
          "bowl", "liquid", ("#c8352a",), "smooth", hidden=("tomatoes", "diced tomatoes")),
        D("apple pie", ("apples", "pie crust", "white sugar", "cinnamon", "butter"), ("nutmeg", "lemon juice", "all-purpose flour", "brown sugar"),
          {}, "bake", ("oven", "pie plate", "rolling pin", "pastry brush"), ("Grandma's Orchard Dessert",),
          "dish", "disc", ("#c98d4a", "#dca866"), "lattice", hidden=("apples", "butter")),
        D("lasagna", ("lasagna noodles", "ground beef", "ricotta cheese", "mozzarella cheese", "tomato sauce"), ("parmesan cheese", "basil", "garlic", "spinach", "onion", "oregano"),
          {"ground beef": ("italian sausage",)}, "bake", ("oven", "baking dish", "large pot", "skillet"), ("Layered Italian Casserole",),
          "dish", "slab", ("#c0642f", "#f1dfa8"), "speckle", hidden=("mozzarella cheese", "ricotta cheese", "ground beef")),
        D("brownies", ("butter", "white sugar", "eggs", "cocoa powder", "all-purpose flour", "vanilla extract"), ("walnuts", "chocolate chips", "salt", "pecans"),
          {}, "bake", ("oven", "baking pan", "saucepan", "mixing bowl"), ("Fudgy Chocolate Squares",),
          "tray", "squares", ("#4a2a1a",), "speckle", (4, 9), hidden=("butter", "eggs")),
        D("fried rice", ("rice", "eggs", "soy sauce", "peas", "carrots", "green onions"), ("sesame oil", "shrimp", "chicken breast", "garlic", "vegetable oil", "ham", "corn"),
          {}, "stirfry", ("wok", "large skillet", "spatula"), ("Leftover Rice Skillet",),
          "plate", "heap", ("#e8d8a6",), "waves"),
        D("guacamole", ("avocado", "lime juice", "salt"), ("cilantro", "onion", "jalapeno", "tomatoes", "garlic", "cumin"),
          {}, "raw", ("mixing bowl", "fork", "molcajete"), ("Chunky Avocado Dip",),
          "bowl", "dip", ("#8db44a",), "speckle", hidden=("avocado",)),
        D("banana bread", ("bananas", "all-purpose flour", "white sugar", "baking soda", "eggs", "butter"), ("walnuts", "vanilla extract", "cinnamon", "brown sugar", "chocolate chips"),
          {}, "bake", ("oven", "loaf pan", "mixing bowl", "wire rack"), ("Moist Overripe Fruit Loaf",),
          "board", "loaf", ("#a8683a", "#d9b27a"), "speckle", hidden=("eggs", "butter", "bananas")),
        D("chicken noodle soup", ("chicken breast", "egg noodles", "carrots", "celery", "chicken broth", "onion"), ("parsley", "thyme", "garlic", "black pepper", "dill"),
          {}, "simmer", ("large pot", "ladle", "stockpot"), ("Get Well Soon Broth",),
          "bowl", "liquid", ("#e5c35a",), "waves"),
        D("omelette", ("eggs", "butter", "salt"), ("cheddar cheese", "ham", "green bell pepper", "mushrooms", "spinach", "onion", "chives", "tomatoes"),
          {"cheddar cheese": ("swiss cheese", "feta cheese")}, "fry", ("nonstick skillet", "whisk", "spatula"), ("Fluffy Diner Breakfast Fold",),
          "plate", "folded", ("#f3d35e",), "smooth", (1, 1), hidden=("eggs", "butter")),
        D("cheesecake", ("cream cheese", "white sugar", "eggs", "graham cracker crumbs", "butter", "vanilla extract"), ("strawberries", "sour cream", "lemon juice", "blueberries"),
          {}, "bake", ("oven", "springform pan", "electric mixer", "roasting pan"), ("New York Style Dessert",),
          "plate", "wedge", ("#c8935a", "#f3e6c4"), "smooth", hidden=("eggs", "butter", "sour cream")),
        D("mac and cheese", ("elbow macaroni", "cheddar cheese", "milk", "butter", "all-purpose flour"), ("breadcrumbs", "mustard", "parmesan cheese", "paprika", "bacon"),
          {}, "boil", ("large pot", "saucepan", "baking dish", "whisk"), ("Cheesy Baked Noodle Casserole",),
          "bowl", "heap", ("#f2b430",), "grid", hidden=("cheddar cheese", "butter")),
        D("waffles", ("all-purpose flour", "milk", "eggs", "butter", "baking powder", "white sugar"), ("maple syrup", "strawberries", "whipped cream", "blueberries", "vanilla extract", "bananas"),
          {}, "griddle", ("waffle iron", "whisk", "mixing bowl"), ("Crispy Belgian Breakfast",),
          "plate", "slices", ("#d9a35b",), "grid", (1, 2), hidden=("eggs", "butter")),
        D("beef stir fry", ("beef sirloin", "broccoli", "soy sauce", "garlic", "ginger"), ("red bell pepper", "sesame oil", "cornstarch", "green onions", "rice", "carrots", "vegetable oil"),
          {"beef sirloin": ("chicken breast", "tofu")}, "stirfry", ("wok", "large skillet", "cutting board"), ("Quick Weeknight Wok Dinner",),
          "plate", "heap", ("#8a5a3a",), "chevrons"),
        D("fruit salad", ("strawberries", "blueberries", "bananas", "grapes", "pineapple"), ("kiwi", "honey", "mint", "orange", "mango", "lime juice"),
          {}, "raw", ("large bowl", "cutting board"), ("Summer Rainbow Bowl",),
          "bowl", "heap", ("#f0e0b0",), "dots"),
        D("smoothie", ("yogurt", "bananas", "milk"), ("strawberries", "blueberries", "spinach", "honey", "mango", "ice", "rolled oats"),
          {"milk": ("milk",)}, "blend", ("blender", "tall glass"), ("Morning Power Shake",),
          "glass", "glass", ("#e58aa0",), "smooth", hidden=("bananas", "strawberries", "blueberries", "spinach", "mango")),
        D("cupcakes", ("all-purpose flour", "white sugar", "butter", "eggs", "milk", "baking powder", "vanilla extract", "powdered sugar"), ("cocoa powder", "sprinkles", "strawberries"),
          {}, "bake", ("oven", "muffin tin", "piping bag", "electric mixer"), ("Birthday Party Frosted Cakes",),
          "tray", "pieces", ("#f2c4d6",), "swirl", (4, 7), hidden=("butter", "eggs", "powdered sugar")),
        D("chili", ("ground beef", "kidney beans", "diced tomatoes", "chili powder", "onion"), ("cumin", "cheddar cheese", "sour cream", "green onions", "jalapeno", "black beans", "garlic", "green bell pepper"),
          {"ground beef": ("ground beef",)}, "simmer", ("large pot", "dutch oven", "slow cooker", "wooden spoon"), ("Game Day Bean Pot",),
          "bowl", "liquid", ("#8e2b1c",), "dots", hidden=("diced tomatoes",)),
        D("pad thai", ("rice noodles", "fish sauce", "eggs", "peanuts", "bean sprouts", "tamarind paste"), ("shrimp", "tofu", "lime", "green onions", "brown sugar", "garlic", "cilantro"),
          {"shrimp": ("chicken breast", "tofu")}, "stirfry", ("wok", "large skillet", "tongs"), ("Bangkok Street Noodles",),
          "plate", "strands", ("#e6c27a", "#c9803a"), "chevrons", hidden=("eggs",)),
        D("quiche", ("pie crust", "eggs", "heavy cream", "swiss cheese"), ("bacon", "spinach", "ham", "onion", "mushrooms", "nutmeg", "chives"),
          {"swiss cheese": ("cheddar cheese",)}, "bake", ("oven", "pie plate", "whisk", "baking sheet"), ("Savory Brunch Tart",),
          "dish", "disc", ("#cf9a55", "#f0d070"), "rings", hidden=("eggs", "swiss cheese", "heavy cream")),
        D("burrito", ("tortillas", "black beans", "rice", "cheddar cheese"), ("chicken breast", "ground beef", "salsa", "sour cream", "avocado", "cilantro", "corn", "lettuce"),
          {"black beans": ("kidney beans",)}, "fry", ("skillet", "saucepan", "aluminum foil"), ("Big Mission Style Wrap",),
          "plate", "roll", ("#ead3a2",), "speckle", (1, 2), hidden=("rice", "black beans", "cheddar cheese")),
        D("roast chicken", ("whole chicken", "butter", "garlic", "thyme", "rosemary", "lemon"), ("potatoes", "carrots", "onion", "olive oil", "black pepper", "paprika"),
          {}, "roast", ("oven", "roasting pan", "meat thermometer", "kitchen twine"), ("Sunday Herb Roasted Bird",),
          "dish", "whole", ("#c8793a",), "speckle", hidden=("butter", "garlic")),
        D("grilled salmon", ("salmon", "olive oil", "lemon", "dill"), ("garlic", "asparagus", "honey", "soy sauce", "black pepper", "butter"),
          {"dill": ("parsley",)}, "grill", ("grill", "grill pan", "spatula", "basting brush"), ("Cedar Plank Fish Dinner",),
          "plate", "fillet", ("#f08a5a",), "stripes", hidden=("salmon",)),
        D("shrimp scampi", ("shrimp", "linguine", "butter", "garlic", "white wine", "lemon juice"), ("parsley", "red pepper flakes", "parmesan cheese", "olive oil", "black pepper"),
          {"linguine": ("spaghetti",)}, "boil", ("large skillet", "large pot", "colander", "tongs"), ("Garlic Butter Seafood Pasta",),
          "plate", "strands", ("#efd595", "#f6e7b5"), "spokes"),
        D("potato salad", ("potatoes", "mayonnaise", "celery", "eggs", "mustard"), ("red onion", "pickles", "paprika", "dill", "green onions", "bacon"),
          {}, "boil", ("large pot", "large bowl", "colander"), ("Picnic Side Dish",),
          "bowl", "heap", ("#efe2a8",), "cracks", hidden=("eggs",)),
        D("blueberry muffins", ("all-purpose flour", "white sugar", "blueberries", "eggs", "milk", "baking powder", "butter"), ("cinnamon", "brown sugar", "lemon", "vanilla extract"),
          {}, "bake", ("oven", "muffin tin", "paper liners", "mixing bowl"), ("Bakery Style Breakfast Treats",),
          "tray", "pieces", ("#d8a25a",), "cracks", (4, 7), hidden=("eggs", "butter")),
        D("mushroom risotto", ("arborio rice", "chicken broth", "mushrooms", "parmesan cheese", "white wine", "onion", "butter"), ("thyme", "garlic", "parsley", "olive oil", "peas"),
          {"chicken broth": ("vegetable broth",)}, "simmer", ("large saucepan", "ladle", "wooden spoon"), ("Creamy Italian Rice",),
          "bowl", "heap", ("#eddfb0",), "rings", hidden=("butter", "parmesan cheese")),
        D("hummus", ("chickpeas", "tahini", "lemon juice", "garlic", "olive oil"), ("paprika", "cumin", "parsley", "salt", "sesame seeds"),
          {}, "blend", ("food processor", "blender", "serving bowl"), ("Creamy Chickpea Spread",),
          "bowl", "dip", ("#d8b97a",), "swirl", hidden=("chickpeas", "garlic")),
        D("donuts", ("all-purpose flour", "white sugar", "yeast", "milk", "eggs", "butter", "vegetable oil"), ("powdered sugar", "sprinkles", "chocolate chips", "cinnamon"),
          {}, "fry", ("deep fryer", "heavy pot", "slotted spoon", "wire rack"), ("Glazed Bakery Rings",),
          "tray", "rings", ("#c98a4a", "#f3e1c8"), "smooth", (3, 6), hidden=("eggs", "butter")),
    )


DISHES: tuple[Dish, ...] = _dishes()
